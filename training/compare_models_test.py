"""`training.compare_models` end to end on a tiny world: the report's layout (the shape the
checks read), parity within tolerance, and the CLI's one-line errors."""
from __future__ import annotations

import json

import pytest

from training import compare_models
from training.world import WorldConfig, generate

TINY = WorldConfig(seed=5, n_users=60, n_authors=20, n_videos=200, days=4)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    generate(TINY, progress=False).save(root / "world")
    out = root / "out" / "models.json"
    code = compare_models.main(["--world", str(root / "world"), "--out", str(out), "--models", "din,ple",
                                "--seeds", "2", "--epochs", "1", "--users", "10"])
    assert code == 0
    return out


def test_report_has_every_model_with_mean_std_parity_and_latency(report):
    doc = json.loads(report.read_text())
    assert set(doc["models"]) == {"din", "ple"} and doc["seeds"] == [7, 8]
    for m in doc["models"].values():
        for head in doc["heads"]:
            for metric in ("auc", "gauc", "logloss"):
                assert f"{metric}_{head}" in m and f"{metric}_{head}_std" in m
        assert m["onnx_parity_max_abs"] <= 1e-4
        assert 0 < m["p50_ms_200"] <= m["p99_ms_200"]
        assert m["params"] > 0 and m["train_s"] > 0 and 0 <= m["ndcg@10"] <= 1
    assert doc["recommended"] in doc["models"]
    assert len(doc["per_seed"]["ple"]) == 2 and "p50_ms_200" not in doc["per_seed"]["ple"][1]
    assert doc["hyperparameters"]["ple"]["levels"] == 2
    md = report.with_suffix(".md").read_text()
    assert "| ple |" in md and "±" in md
    assert report.with_suffix(".png").stat().st_size > 0


def test_recommend_prefers_quality_within_the_latency_limit():
    models = {"fast": {"p50_ms_200": 1.0, "ndcg@10": 0.10, "auc_like": 0.6},
              "slow": {"p50_ms_200": 9.0, "ndcg@10": 0.20, "auc_like": 0.7},
              "good": {"p50_ms_200": 2.0, "ndcg@10": 0.12, "auc_like": 0.6}}
    assert compare_models.recommend(models) == "good"


def test_shown_heads_follow_the_dataset_and_keep_only_heads_the_data_has():
    kuairand = ("engaged", "like", "complete", "share", "follow", "click", "long_view", "comment", "hate")
    assert compare_models.shown_heads("kuairand", kuairand) == ["click", "long_view", "like", "follow", "hate"]
    assert compare_models.shown_heads("kuairand", ("engaged", "like", "follow")) == ["like", "follow"]
    assert compare_models.shown_heads("synthetic", ("engaged", "like", "complete", "share", "follow")) == [
        "like", "complete", "share", "follow"]
    assert compare_models.shown_heads("movielens", ("engaged", "like")) == ["engaged", "like"]


def test_a_kuairand_report_reads_its_first_shown_head(tmp_path):
    heads = ["engaged", "like", "follow", "click", "long_view", "hate"]
    row = {"params": 10, "train_s": 1.0, "onnx_parity_max_abs": 1e-7, "ndcg@10": 0.01, "ndcg@10_std": 0.0,
           "p50_ms_200": 0.5, "p99_ms_200": 1.0}
    for h in heads:
        row |= {f"{m}_{h}{s}": 0.6 for m in ("auc", "gauc", "logloss") for s in ("", "_std")}
    report = {"dataset": "kuairand", "heads": heads, "shown_heads": compare_models.shown_heads("kuairand", heads),
              "seeds": [7], "epochs": 1, "complete": True, "split": {"train_rows": 5, "test_rows": 2},
              "pipeline_users": 3, "pre_rank": "mlp", "recommended": "din", "serving_p50_ms_limit": 3.0,
              "models": {"din": row}, "per_seed": {"din": [row]}}
    compare_models.write(report, tmp_path / "models-kuairand.json")
    md = (tmp_path / "models-kuairand.md").read_text()
    assert "| model | AUC click | AUC long_view | AUC like | AUC follow | AUC hate | GAUC click | logloss click |" in md
    assert (tmp_path / "models-kuairand.png").stat().st_size > 0


def test_kuairand_without_the_shared_sample_is_skipped_with_a_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(compare_models, "KUAIRAND_DIR", tmp_path)
    assert compare_models.main(["--dataset", "kuairand", "--out", str(tmp_path / "r.json")]) == 0
    assert "no KuaiRand log_*.csv" in capsys.readouterr().err and not (tmp_path / "r.json").exists()


def test_a_kuairand_path_without_logs_is_a_one_line_error(tmp_path, capsys):
    assert compare_models.main(["--dataset", "kuairand", "--path", str(tmp_path)]) == 2
    assert "no KuaiRand log_*.csv or KuaiRec" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--models", "din,wide"], "unknown ['wide']"),
    (["--seeds", "0"], "must be >= 1"),
    (["--world", "/nonexistent"], "no world here"),
    (["--dataset", "movielens"], "--path is required"),
])
def test_cli_errors_name_the_flag(args, message, capsys):
    with pytest.raises(SystemExit):
        compare_models.main(args)
    assert message in capsys.readouterr().err
