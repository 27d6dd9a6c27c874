"""`training.evaluate` end to end on a tiny MovieLens-format dataset: the report's layout,
the recommendations dump and the CLI's one-line errors."""
from __future__ import annotations

import json

import pytest

from training import evaluate
from training.importers import load
from training.importers.importers_test import write_ml100k


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    folder = write_ml100k(tmp_path_factory.mktemp("ml") / "ml-100k", n_users=60, n_items=40, interleave=True)
    out = tmp_path_factory.mktemp("out")
    code = evaluate.main(["--dataset", "movielens", "--path", str(folder), "--out", str(out / "eval.json"),
                          "--dump-recs", str(out / "recs.jsonl"), "--epochs", "1", "--users", "30"])
    assert code == 0
    return out


def test_report_has_the_documented_layout(tiny_report):
    report = json.loads((tiny_report / "eval.json").read_text())
    assert report["dataset"] == "movielens"
    assert report["split"]["kind"] == "time" and report["split"]["cutoff_ts"] > 0
    assert {"popularity", "item_cf", "implicit_als", "two_tower", "merged"} <= set(report["retrieval"])
    for metrics in report["retrieval"].values():
        assert {"recall@50", "recall@100", "recall@500", "ndcg@10", "hitrate@10"} <= set(metrics)
    assert {"lr", "prerank", "ranker"} <= set(report["ranking"])
    for metrics in report["ranking"].values():
        assert {"auc_like", "gauc_like", "logloss_like"} <= set(metrics)
    assert {"ndcg@10", "recall@20", "coverage", "intra_list_diversity"} <= set(report["pipeline"])
    for stage in ("recall_top20", "merged_recall", "prerank", "rank", "final"):
        assert {"ndcg@10", "recall@20", "hitrate@10"} <= set(report["stages"][stage])
    assert report["stages"]["final"]["ndcg@10"] == report["pipeline"]["ndcg@10"]
    assert {"two_tower", "item_cf", "hot"} <= set(report["stages"]["channels"])
    assert {"popularity", "item_knn", "implicit_als"} <= set(report["baselines"]["tuned"])
    for t in report["baselines"]["tuned"].values():
        assert t["chosen"] in [p["params"] for p in t["grid"]]
        assert t["validation"]["cutoff_ms"] < report["split"]["cutoff_ts"]
    assert set(report["fusion"]["weights"]) == {*report["heads"], "recall_prior", "watch"}
    assert "engaged" in report["heads"]
    paired = report["stages"]["paired"]
    assert {"rank/merged_recall", "final/rank", "final/merged_recall"} <= set(paired)
    assert all(r["ci95"][0] <= r["ratio"] <= r["ci95"][1] for r in paired.values() if r["ratio"] == r["ratio"])
    assert (tiny_report / "eval.md").exists() and (tiny_report / "eval.png").stat().st_size > 0


def test_dump_recs_has_every_eligible_user_in_the_datasets_own_ids(tiny_report):
    lines = [json.loads(x) for x in (tiny_report / "recs.jsonl").read_text().splitlines()]
    report = json.loads((tiny_report / "eval.json").read_text())
    # every user with a positive before and after the cutoff, not only the --users sample
    assert len(lines) == report["users"]["eligible"] >= report["pipeline"]["users"] > 0
    assert report["pipeline"]["users"] <= 30
    # the fixture's own ids: users 1..60, items 1..40
    users = [row["user"] for row in lines]
    assert len(set(users)) == len(users)
    for row in lines:
        assert set(row) == {"user", "recs", "test_items"}
        assert len(row["recs"]) <= 20 and len(set(row["recs"])) == len(row["recs"]) and row["test_items"]
        assert 1 <= row["user"] <= 60 and all(1 <= i <= 40 for i in row["recs"] + row["test_items"])


def test_cli_errors_name_the_path(tmp_path, capsys):
    assert evaluate.main(["--dataset", "movielens", "--path", str(tmp_path / "missing")]) == 2
    assert "missing: no such directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate.main(["--dataset", "kuairand"])
    assert "--path is required" in capsys.readouterr().err


def test_imported_worlds_round_trip_through_world_files(tmp_path):
    world = load("movielens", write_ml100k(tmp_path / "ml"))
    world.save(tmp_path / "saved")
    from training.world import World
    again = World.load(tmp_path / "saved")
    assert again.config == world.config
    assert again.impressions["item_id"].tolist() == world.impressions["item_id"].tolist()


def test_oracle_ceilings_rank_what_each_list_holds_by_the_truth():
    import numpy as np

    from training.world import WorldConfig, generate
    world = generate(WorldConfig(seed=3, n_users=20, n_authors=10, n_videos=200, days=3), progress=False)
    now = int(world.videos["publish_ms"].max()) + 1
    oracle = evaluate.OracleCeilings(world, now, np.arange(1, 201))
    user = 4
    catalog = np.arange(1, 201)
    rel = world.oracle_relevance(user + 1, catalog, now)
    by_truth = catalog[np.argsort(-rel)]
    seen = by_truth[:3]                      # the 3 best are seen: the catalog's best 10 is 4..13
    lists = {"merged_recall": by_truth[3:60][::-1],   # holds the best unseen, ordered worst first
             "rank": by_truth[3:13], "final": by_truth[3:13]}
    oracle.add(user, seen, lists)
    s = oracle.summary()
    best_unseen = float(np.sort(rel)[::-1][3:13].mean())
    assert s["catalog"]["best10"]["mean"] == pytest.approx(best_unseen, abs=1e-4)
    assert s["merged_recall"]["best10"]["mean"] == pytest.approx(best_unseen, abs=1e-4)
    assert s["merged_recall"]["top10"]["mean"] < s["merged_recall"]["best10"]["mean"]
    assert s["rank"]["top10"]["mean"] == pytest.approx(best_unseen, abs=1e-4)
    assert "prerank" not in s                # a list the run did not produce is left out
    # the partial oracles: a non-personal ordering (quality, age, region) and one that adds the
    # user's taste for the video's category; neither beats the truth's own best 10
    for name in ("oracle_no_taste", "oracle_category_taste"):
        assert 0 < s[name]["top10"]["mean"] <= best_unseen + 1e-9
    order = oracle.partial_oracles(user, catalog)["no_taste"]
    v = world.videos
    assert np.corrcoef(order, v["quality"])[0, 1] > 0.9  # quality is most of what it knows


def test_an_earlier_window_uses_nothing_after_it(tmp_path):
    from training.world import DAY_MS, WorldConfig, generate
    folder = tmp_path / "world"
    world = generate(WorldConfig(n_users=60, n_authors=10, n_videos=200, days=5, test_days=1.0), progress=False)
    world.save(folder)
    out = tmp_path / "eval.json"
    assert evaluate.main(["--path", str(folder), "--out", str(out), "--epochs", "1", "--users", "20",
                          "--no-fit-fusion", "--back", "1"]) == 0
    split = json.loads(out.read_text())["split"]
    assert split["back_days"] == 1 and split["end_ts"] == world.config.end_ms - DAY_MS
    assert split["cutoff_ts"] == split["end_ts"] - DAY_MS
    imp = world.impressions["ts_ms"]
    assert split["train_rows"] + split["test_rows"] == int((imp < split["end_ts"]).sum())
    assert "ends 1 days before the log's end" in out.with_suffix(".md").read_text()


def test_back_must_leave_a_window_with_rows_before_it(tmp_path, capsys):
    from training.world import WorldConfig, generate
    generate(WorldConfig(n_users=10, n_authors=3, n_videos=20, days=3, test_days=1.0), progress=False).save(tmp_path)
    for back, message in (("-1", "--back must be >= 0"), ("2", "--back 2: no rows are left")):
        with pytest.raises(SystemExit):
            evaluate.main(["--path", str(tmp_path), "--back", back])
        assert message in capsys.readouterr().err
