"""A small closed-loop simulation against the real stack: events reach Redis, the report is
written, and A/B arms get the users the gateway's bucketing gives them."""
from __future__ import annotations

import json

import pytest

from dev.stack import Stack
from gateway.experiments import Experiments
from training import simulate as sim

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ab_gateway(stack, tmp_path_factory):
    """A second gateway on the session's recall/rank/rerank, with a 50/50 rerank experiment."""
    folder = tmp_path_factory.mktemp("sim")
    experiments = folder / "experiments.json"
    experiments.write_text(json.dumps({"layers": [{"name": "rerank", "experiments": [
        {"id": "dpp", "percent": 50, "rerank_policy": "dpp"}]}]}))
    ports = {name: port for name, port in stack.ports.items() if name not in ("gateway", "http")}
    gw = Stack(stack.registry_dir, stack.redis_url, stack.prefix, folder / "logs", ports=ports,
               env={"GATEWAY_EXPERIMENTS_FILE": str(experiments)})
    gw.start_one("gateway")
    gw.wait_one("gateway")
    yield gw.address("gateway"), Experiments(experiments)
    gw.stop()


def test_small_simulation_stores_events_writes_the_report_and_splits_arms(ab_gateway, stack, world, tmp_path):
    address, experiments = ab_gateway
    users = list(range(1900, 1916))
    report = sim.simulate(address, world, rounds=3, count=5, user_ids=users, concurrency=4,
                          redis=(stack.redis_url, stack.prefix))
    c = report["counters"]
    assert c["requests"] == len(users) * 3
    assert c["events_sent"] > 0 and c["events_acked"] == c["events_sent"]
    assert report["events_in_redis"] == c["events_sent"]  # read back from the stream
    expected = {u: (experiments.assign(u).id or "control") for u in users}
    assert len(set(expected.values())) == 2  # these users fall in both arms
    for arm, arm_users in report["arm_users"].items():
        assert all(expected[u] == arm for u in arm_users)
    assert sorted(u for us in report["arm_users"].values() for u in us) == users
    assert set(report["arms"]) >= {"random", "popularity"}
    for arm in report["arms"].values():
        assert len(arm["by_round"]["oracle_relevance"]) == 3
    out = tmp_path / "sim.json"
    sim.write_report(report, out)
    assert json.loads(out.read_text())["config"]["rounds"] == 3
    assert out.with_suffix(".md").exists() and out.with_suffix(".png").stat().st_size > 0


def test_the_simulator_talks_to_loopback_only(capsys):
    with pytest.raises(SystemExit):
        sim.main(["--gateway", "10.0.0.8:50050"])
    assert "loopback addresses only" in capsys.readouterr().err
