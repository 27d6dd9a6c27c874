"""The rerank benchmark and trade-off report run on real trained artifacts; the end-to-end
benchmark's HTTP-vs-gRPC part runs against the real stack and merges into existing results."""
import json

import pytest

from bench import e2e as e2e_bench
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


def test_http_vs_grpc_measures_both_edges(stack, world):
    report = e2e_bench.http_vs_grpc(stack, world.users["user_id"][:5], n=4, count=5)
    assert report["http_p50_ms"] > 0 and report["grpc_p50_ms"] > 0 and report["requests"] == 4
    assert report["http_over_grpc_p50"] == pytest.approx(report["http_p50_ms"] / report["grpc_p50_ms"], rel=1e-2)


def test_http_only_results_merge_into_the_existing_ones(tmp_path):
    out = tmp_path / "latest.json"
    measured = {"http_p50_ms": 12.0, "grpc_p50_ms": 10.0, "http_over_grpc_p50": 1.2, "requests": 3, "count": 10}
    e2e_bench.write(e2e_bench.merge_http(out, measured), out, plot=False)  # no results yet: the JSON alone
    assert json.loads(out.read_text())["http"]["http_p50_ms"] == 12.0 and not out.with_suffix(".md").exists()
    loop = {"p50_ms": 5.0, "p99_ms": 9.0, "rps": 100.0, "cpu_ms_per_request": 7.0}
    full = {"e2e_p50_ms": 5.0, "e2e_p95_ms": 8.0, "e2e_p99_ms": 9.0, "e2e_rps": 100.0, "inproc_p50_ms": 3.0,
            "overhead_ratio": 1.6, "echo_chain_p50_ms_c1": 1.0, "overhead_ratio_floor": 1.3, "echo_chain_rps": 900.0,
            "throughput_ratio": 0.1, "cpu_ms_per_request": 7.0, "closed_loop": {"1": loop},
            "open_loop": {}, "catalog": {}, "http": {"http_p50_ms": 99.0}}
    out.write_text(json.dumps(full))
    e2e_bench.write(e2e_bench.merge_http(out, measured, note="shared machine"), out, plot=False)
    merged = json.loads(out.read_text())
    assert {k: v for k, v in merged.items() if k != "http"} == {k: v for k, v in full.items() if k != "http"}
    assert merged["http"]["http_p50_ms"] == 12.0 and merged["http"]["note"] == "shared machine"
    assert "| Recommend (10 items) p50: HTTP/JSON / gRPC | 12.0 / 10.0 ms = 1.20 | ≤ 1.5 |" in \
        out.with_suffix(".md").read_text()
    assert not out.with_suffix(".png").exists()


def test_bench_e2e_refuses_a_bad_request_count():
    with pytest.raises(SystemExit):
        e2e_bench.main(["--only", "http", "--requests", "0"])
    with pytest.raises(SystemExit):
        e2e_bench.main(["--only", "turns", "--repeats", "0"])


def test_in_process_timings_are_kept_by_the_gap_before_each_request(stack, world, artifacts):
    import asyncio
    turn = iter(range(1000))

    async def gap():
        return "odd" if next(turn) % 2 else "even"
    report = asyncio.run(e2e_bench.in_process(world, artifacts[1], stack.redis_url, stack.prefix, n=6, between=gap))
    assert set(report["stages_mean_ms_by_gap"]) == {"odd", "even"}
    for stages in report["stages_mean_ms_by_gap"].values():
        assert set(stages) == {"state", "recall", "rank", "rerank", "display"} and min(stages.values()) > 0
    assert report["cpu_ms_per_request"] > 0


def test_profile_summary_attributes_samples_by_module_and_handler(tmp_path):
    from bench import profile
    raw = tmp_path / "rank-c1.txt"
    raw.write_text(
        "process 1:\"python -m services.rank\";<module> (services/rank/__main__.py:90);"
        "RankServicer.Rank (services/rank/servicer.py:50);score (core/rank/scoring.py:79);"
        "Session.run (onnxruntime/capi/onnxruntime_inference_collection.py:406) 6\n"
        "process 1:\"python -m services.rank\";<module> (services/rank/__main__.py:90);"
        "BaseEventLoop._run_once (asyncio/base_events.py:1922) 4\n")
    s = profile.summarize(raw)
    assert s["samples"] == 10
    assert s["share"] == {"onnxruntime": 0.6, "asyncio": 0.4}
    assert s["handler_inclusive"] == {"Rank": 0.6}


def test_same_work_in_process_runs_the_gateways_pipeline_and_reranks_as_the_service(stack, world, artifacts):
    """bench/in_process.py: the gateway's pipeline over local stages answers whole feeds, and
    its rerank stage gives the rerank service's answer for the same candidates and session."""
    import asyncio

    import numpy as np

    from bench import in_process as same_work
    from core.context import RequestContext
    from core.store.user_state import UserStateData
    from gateway.clients import StageClients

    users, counts = np.unique(world.impressions["user_id"], return_counts=True)

    async def timed() -> dict:
        work = await same_work.SameWork(artifacts[1], stack.redis_url, stack.prefix, users,
                                        counts / counts.sum()).open()
        try:
            return (await work.run(same_work.Timings(), 4)).summary()
        finally:
            await work.close()
    report = asyncio.run(timed())
    assert {"state", "recall", "rank", "rerank", "display", "total"} <= set(report["stages_mean_ms"])
    assert report["p50_ms"] > 0 and report["cpu_ms_per_request"] > 0
    assert report["degraded"] == {}  # every request did the whole work

    ids = world.videos["item_id"][:60].astype(np.int64)
    scores = np.linspace(1, 0.1, ids.size).astype(np.float32)
    state = UserStateData(session_items=ids[40:44])
    ctx = RequestContext(user_id=int(users[0]))

    async def both():
        pipeline, _, _, client = await same_work.build(artifacts[1], stack.redis_url, stack.prefix)
        clients = StageClients(stack.address("recall"), stack.address("rank"), stack.address("rerank"))
        try:
            local = await pipeline.clients.rerank(ctx, ids, scores, 20, "", 1.0, state, {int(ids[30]): 5.0})
            remote = await clients.rerank(ctx, ids, scores, 20, "", 1.0, state, {int(ids[30]): 5.0})
        finally:
            await clients.close()
            await client.aclose()
        return local, remote
    local, remote = asyncio.run(both())
    assert local.item_ids.tolist() == remote.item_ids.tolist() and local.reasons == remote.reasons
    assert local.removed == remote.removed and local.policy == remote.policy


def test_in_turns_measures_the_stack_the_same_work_and_the_echo_chain(stack, world):
    """bench.e2e.in_turns: the three sides of the #21 ratios, taken in turns (no metrics ports
    here, so no handler means)."""
    turns = e2e_bench.in_turns(stack, world, {}, seconds=1.0, rounds=1)
    assert set(turns["p50_ms"]) == {"stack", "in_process", "echo"} and min(turns["p50_ms"].values()) > 0
    assert turns["in_process"]["requests"] > 0 and turns["cpu_ms_per_request"]["stack_16"] > 0
    assert turns["errors"] == {} and turns["stages_server_mean_ms"] == {}
