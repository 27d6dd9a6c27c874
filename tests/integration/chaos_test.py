"""The quick chaos cases of `make chaos`, in `make test`: a stage killed under load, Redis
crashing under load, and fuzzed requests — no client errors, nothing acknowledged lost,
recovery within 5 s, no INTERNAL."""
from __future__ import annotations

import shutil

import pytest

from bench import chaos

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server on PATH")]


def test_quick_chaos_scenarios_meet_their_goals(artifacts):
    result = chaos.run(artifacts[0], artifacts[1], ["kill_rank", "redis_down", "fuzz"], quick=True)
    for name, r in result["scenarios"].items():
        assert r["passed"], (name, r["problems"])
        assert r["events_lost"] == 0
    assert result["scenarios"]["redis_down"]["events_acked"] > 0
    assert result["scenarios"]["kill_rank"]["recovery_s"] <= chaos.RECOVERY_GOAL_S
