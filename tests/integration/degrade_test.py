"""Never fail the client: with a stage or Redis down, Recommend still answers, flagged.

These tests start their own stack (and, for Redis, their own redis-server) so that killing
things does not disturb the session's shared stack.
"""
from __future__ import annotations

import signal
import time
import uuid

import grpc
import pytest
from recsys.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc

from dev.redis_server import ensure_redis, free_port
from dev.stack import Stack, bootstrap


def recommend(stack, user_id=3):
    with grpc.insecure_channel(stack.address("gateway")) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        return stub.Recommend(gateway_pb2.RecommendRequest(user_id=user_id, count=10), timeout=10)


@pytest.fixture(scope="module")
def own_stack(artifacts, redis_url, tmp_path_factory):
    prefix = f"test-degrade-{uuid.uuid4().hex[:8]}"
    bootstrap(artifacts[0], artifacts[1], redis_url, prefix, progress=False, say=lambda *_: None)
    s = Stack(artifacts[1], redis_url, prefix, tmp_path_factory.mktemp("logs"))
    s.start()
    yield s
    s.stop()


@pytest.mark.parametrize("service, flag", [
    ("rank", "rank_unavailable"),
    ("rerank", "rerank_unavailable"),
    ("recall", "recall_unavailable"),
])
def test_a_killed_stage_degrades_then_recovers(own_stack, service, flag):
    own_stack.stop_one(service, sig=signal.SIGKILL)
    reply = recommend(own_stack)
    assert len(reply.items) == 10
    assert flag in reply.degraded
    if service == "recall":
        assert all(i.channels == ["hot_fallback"] for i in reply.items)
    if service == "rerank":  # rank order with a simple author cap
        authors = [i.author_id for i in reply.items]
        assert max(authors.count(a) for a in set(authors)) <= 2
    own_stack.start_one(service)
    own_stack.wait_one(service)
    assert recovers_within(own_stack, 5.0)


def recovers_within(stack, seconds: float) -> bool:
    """The gateway serves non-degraded again within `seconds` of the restart."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not recommend(stack).degraded:
            return True
        time.sleep(0.1)
    return False


def test_sigterm_drains_and_exits_cleanly(own_stack):
    proc = own_stack.procs["rerank"]
    own_stack.stop_one("rerank", sig=signal.SIGTERM)
    assert proc.returncode == 0
    log = (own_stack.log_dir / "rerank.log").read_text()
    assert '"msg": "draining"' in log and '"msg": "stopped"' in log
    own_stack.start_one("rerank")
    own_stack.wait_one("rerank")


def test_redis_down_serves_defaults_and_refuses_events(artifacts, tmp_path):
    local = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")  # nothing there: starts its own
    assert local.kind != "external"
    try:
        bootstrap(artifacts[0], artifacts[1], local.url, "t", progress=False, say=lambda *_: None)
        with Stack(artifacts[1], local.url, "t", tmp_path) as s:
            assert not recommend(s).degraded
            local.stop()
            reply = recommend(s)
            assert len(reply.items) == 10
            assert "state_unavailable" in reply.degraded
            with grpc.insecure_channel(s.address("gateway")) as channel:
                stub = gateway_pb2_grpc.GatewayServiceStub(channel)
                with pytest.raises(grpc.RpcError) as err:
                    stub.ReportEvents(gateway_pb2.ReportEventsRequest(events=[common_pb2.Event(
                        event_id="e", user_id=3, item_id=5, type=common_pb2.EVENT_TYPE_LIKE)]),
                        timeout=10)
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        local.stop()
