"""The rerank benchmark and trade-off report run on real trained artifacts."""
import json

from bench import rerank as rerank_bench
from training import evaluate_rerank


def test_tradeoff_report(artifacts, world, tmp_path):
    report = evaluate_rerank.evaluate(world, artifacts[1], n_users=15)
    evaluate_rerank.write(report, tmp_path)
    methods = json.loads((tmp_path / "rerank-tradeoff.json").read_text())["methods"]
    assert {"none", "mmr_lambda=0.7", "dpp_theta=0.7"} <= set(methods)
    assert methods["mmr_lambda=1.0"] == methods["none"]  # lambda = 1 is relevance order
    assert methods["mmr_lambda=0.3"]["ild"] > methods["none"]["ild"]
    assert (tmp_path / "rerank-tradeoff.png").stat().st_size > 0


def test_rerank_bench_runs(artifacts):
    report = rerank_bench.run(artifacts[1], iters=20)
    assert report["rerank_inproc_p99_ms_200to20"] > 0
    assert {"policy:default", "policy:dpp", "selector:dpp"} <= set(report["results"])
