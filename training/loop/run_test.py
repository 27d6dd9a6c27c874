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
