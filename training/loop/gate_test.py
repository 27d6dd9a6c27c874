import numpy as np
import pandas as pd
import pytest

from core.feedback import EventKind

pytest.importorskip("pyarrow", reason="the loop extra is not installed (pip install -e '.[loop]')")
from training.loop.gate import WINDOW_MS, decide, outcomes  # noqa: E402


def imps(n_users: int, per_user: int, version: str, user0: int = 0, latency: float = 10.0) -> pd.DataFrame:
    rows = [{"request_id": f"{version}-{u}-{k}", "user_id": user0 + u, "item_id": k + 1, "ts_ms": 1000 * k,
             "ranker_version": version, "degraded": "", "latency_ms": latency}
            for u in range(n_users) for k in range(per_user)]
    return pd.DataFrame(rows)


def with_likes(df: pd.DataFrame, rate: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = df.copy()
    out["like"] = (rng.random(len(df)) < rate).astype(float)
    out["watch_s"] = rng.random(len(df)) * 10
    out["negative"] = 0.0
    out["degraded"] = 0.0
    return out


def test_outcomes_take_events_on_the_item_within_the_window():
    shown = imps(1, 3, "v1")
    events = pd.DataFrame([
        {"user_id": 0, "item_id": 1, "ts_ms": 10, "type": int(EventKind.LIKE), "watch_ms": 0},
        {"user_id": 0, "item_id": 1, "ts_ms": 20, "type": int(EventKind.VIEW), "watch_ms": 8000},
        {"user_id": 0, "item_id": 2, "ts_ms": 1000 + WINDOW_MS + 1, "type": int(EventKind.LIKE), "watch_ms": 0},
        {"user_id": 0, "item_id": 3, "ts_ms": 2500, "type": int(EventKind.VIEW), "watch_ms": 900},
        {"user_id": 0, "item_id": 3, "ts_ms": 1500, "type": int(EventKind.LIKE), "watch_ms": 0},  # before it
    ])
    out = outcomes(shown, events)
    assert out["like"].tolist() == [1.0, 0.0, 0.0]
    assert out["watch_s"].tolist() == [8.0, 0.0, 0.9]
    assert out["negative"].tolist() == [0.0, 0.0, 1.0]  # a view under 3 s is a quick skip


def test_a_clearly_worse_canary_is_rolled_back():
    action, reason, arms, diffs = decide(with_likes(imps(80, 20, "v1"), 0.15, 1),
                                         with_likes(imps(80, 20, "v2", user0=1000), 0.05, 2))
    assert action == "rolled_back" and "like_rate" in reason and diffs["like_rate"]["hi"] < 0


def test_a_better_canary_is_promoted_and_an_equal_one_too():
    live, canary = imps(80, 20, "v1"), imps(80, 20, "v2", 1000)
    assert decide(with_likes(live, 0.05, 1), with_likes(canary, 0.15, 2))[0] == "promoted"
    action, reason, _, _ = decide(with_likes(live, 0.10, 3), with_likes(canary, 0.10, 3))
    assert action == "promoted" and reason.startswith("no worse")


def test_too_few_users_hold_and_latency_guards():
    assert decide(with_likes(imps(5, 5, "v1"), 0.1, 1), with_likes(imps(5, 5, "v2", 1000), 0.1, 1))[0] == "hold"
    action, reason, _, _ = decide(with_likes(imps(80, 20, "v1"), 0.1, 1),
                                  with_likes(imps(80, 20, "v2", 1000, latency=80.0), 0.1, 1))
    assert action == "rolled_back" and reason.startswith("guardrail: latency")
