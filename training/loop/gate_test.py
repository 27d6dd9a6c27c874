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


def test_gate_applies_its_decision_to_the_aliases_and_records_it(tmp_path):
    import json

    import pyarrow as pa

    from core.registry.reader import Registry
    from training.loop.exporter import EVENT_SCHEMA, IMPRESSION_SCHEMA, Sink
    from training.loop.gate import gate

    for v, created in (("v0001", 0), ("v0002", 5_000)):
        (tmp_path / "models/ranker" / v).mkdir(parents=True)
        (tmp_path / f"models/ranker/{v}/manifest.json").write_text(json.dumps({"files": {}, "created_ms": created}))
    registry = Registry(tmp_path / "models")
    registry.set_live("ranker", "v0001")
    registry.set_canary("ranker", "v0002", 50)
    rng = np.random.default_rng(0)
    imps, events = [], []
    for u in range(80):
        version, rate = ("v0001", 0.3) if u % 2 else ("v0002", 0.05)
        for k in range(20):
            ts = 10_000 + 100 * k
            imps.append({"stream_id": f"{ts}-{u}", "request_id": f"r{u}-{k}", "user_id": u, "ts_ms": ts,
                         "item_id": k + 1, "position": 1, "ranker_version": version, "degraded": "",
                         "latency_ms": 10.0})
            if rng.random() < rate:
                events.append({"stream_id": f"{ts + 5}-{u}", "event_id": f"e{u}-{k}", "user_id": u, "item_id": k + 1,
                               "type": int(EventKind.LIKE), "watch_ms": 0, "ts_ms": ts + 5, "author_id": 0})
        # traffic from before the canary existed does not count for either arm
        imps.append({"stream_id": f"1-{u}", "request_id": f"old{u}", "user_id": u, "ts_ms": 1, "item_id": 99,
                     "position": 1, "ranker_version": "v0002", "degraded": "", "latency_ms": 10.0})
    sink = Sink(tmp_path / "logs")
    sink.write(pa.Table.from_pylist(imps, schema=IMPRESSION_SCHEMA),
               sink.path("impressions", "day=2026-01-01", "hour=00", "part-a.parquet"))
    sink.write(pa.Table.from_pylist(events, schema=EVENT_SCHEMA),
               sink.path("events", "day=2026-01-01", "hour=00", "part-a.parquet"))
    d = gate(tmp_path / "models", str(tmp_path / "logs"), min_users=10)
    assert (d.action, d.version, d.live, d.applied) == ("rolled_back", "v0002", "v0001", True)
    assert d.arms["canary"]["impressions"] == 40 * 20  # the older impressions were left out
    assert "canary" not in registry.aliases("ranker") and registry.live_version("ranker") == "v0001"
    [line] = (tmp_path / "models/ranker/decisions.jsonl").read_text().splitlines()
    assert json.loads(line)["action"] == "rolled_back"
    assert gate(tmp_path / "models", str(tmp_path / "logs")).action == "hold"  # nothing on canary now
