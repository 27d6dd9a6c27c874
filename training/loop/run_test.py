import pytest

pytest.importorskip("pyarrow", reason="the loop extra is not installed (pip install -e '.[loop]')")
from training.loop.run import day_record  # noqa: E402


def stat(mean: float) -> dict:
    return {"mean": mean, "ci95": 0.01, "n": 10}


def test_day_record_keeps_each_arms_metrics_and_the_in_session_learning_target():
    summary = {arm: {"users": 10, "totals": {m: stat(0.1) for m in ("oracle_relevance", "like_rate", "watch_s",
                                                                      "mood_share")},
                     "learning": {"mood_share_first_vs_rest": {"late_minus_early": stat(0.02)}}}
               for arm in ("system", "popularity", "oracle_taste")}
    rec = day_record(2, summary, {"ranker": "v0003"}, {"ranker": "v0004 (50%)"})
    assert rec["day"] == 2 and set(rec["arms"]) == {"system", "popularity", "oracle_taste"}
    assert rec["arms"]["system"]["oracle_relevance"] == stat(0.1)
    assert rec["arms"]["system"]["mood_share_rounds_2plus_minus_round_1"] == stat(0.02)
    assert rec["live_versions"] == {"ranker": "v0003"} and rec["canary_versions"] == {"ranker": "v0004 (50%)"}


def test_the_report_names_the_unseen_ceiling_the_recall_version_and_the_uploads(tmp_path):
    from training.loop.run import write_report
    arms = {arm: {m: stat(0.1) for m in ("oracle_relevance", "like_rate")}
            | {"mood_share_rounds_2plus_minus_round_1": stat(0.0)}
            for arm in ("system", "popularity", "oracle_taste", "oracle_taste_unseen", "oracle_taste_all_week")}
    report = {"config": {"days": 2, "users": 3, "rounds": 1, "count": 2},
              "days": [{"day": d, "arms": arms, "live_versions": {"ranker": "v0001", "item_cf": f"v000{d}"},
                        "canary_versions": {}, "uploads": 5} for d in (1, 2)],
              "decisions": [], "candidates": [], "events": {"acked": 1, "exported": 1, "duplicates_dropped": 0},
              "targets": {}, "seconds": 1.0}
    write_report(report, tmp_path / "loop.json")
    md = (tmp_path / "loop.md").read_text()
    assert "oracle_taste_unseen" in md and "oracle_taste_all_week" in md and "| 2 | v0001 |  | v0002 | 5 |" in md
    assert (tmp_path / "loop.png").stat().st_size > 0
