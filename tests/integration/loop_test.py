"""The learning loop end to end on the real stack: traffic is logged and exported, a candidate
trained on shuffled labels goes on canary, and the gate rolls it back from the logged arms."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("ray", reason="the loop extra is not installed (pip install -e '.[loop]')")
from core.registry.reader import Registry  # noqa: E402
from training.loop.run import loop, write_report  # noqa: E402


@pytest.mark.timeout(1800)  # trains the session artifacts when first, then two simulated days
def test_a_shuffled_label_candidate_is_rolled_back(artifacts, redis_url, tmp_path):
    world_dir, registry_dir = artifacts
    report = loop(world_dir, registry_dir, tmp_path, redis_url, days=2, users=100, rounds=4, count=10,
                  canary_percent=50, broken_night=1, epochs=1, say=lambda *_: None)
    [candidate] = report["candidates"]
    assert candidate["broken"] and candidate["rows"] > 0
    [decision] = report["decisions"]
    # judged on day 2's traffic, in effect from day 3
    assert (decision["day"], decision["version"], decision["action"]) == (3, candidate["version"], "rolled_back")
    assert decision["arms"]["canary"]["users"] > 10 and decision["arms"]["live"]["users"] > 10
    registry = Registry(tmp_path / "models")
    aliases = registry.aliases("ranker")
    assert "canary" not in aliases and aliases["live"] == report["days"][0]["live_versions"]["ranker"]
    recorded = [json.loads(line) for line in (tmp_path / "models/ranker/decisions.jsonl").read_text().splitlines()]
    assert [d["action"] for d in recorded] == ["rolled_back"]
    assert report["days"][1]["canary_versions"]["ranker"].startswith(candidate["version"])
    e = report["events"]
    assert e["acked"] > 0 and e["exported"] == e["acked"] == e["unique_event_ids"] and e["duplicates_dropped"] == 0
    # the user's registry is untouched: the loop works on a copy
    assert "canary" not in Registry(registry_dir).aliases("ranker")
    write_report(report, tmp_path / "loop.json")
    assert (tmp_path / "loop.md").read_text().count("| rolled_back |") == 1 and (tmp_path / "loop.png").exists()
