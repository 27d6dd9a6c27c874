"""The gateway's public API: Explain, fuzzing, API keys, experiments, load shedding."""
from __future__ import annotations

import json
import threading
import time
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recsys.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc

from dev.stack import Stack, bootstrap

ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}


@pytest.fixture(scope="module")
def channel(stack):
    with grpc.insecure_channel(stack.address("gateway")) as ch:
        yield ch


def test_explain_shown_seen_unknown_and_bad(channel):
    stub = gateway_pb2_grpc.GatewayServiceStub(channel)
    feed = stub.Recommend(gateway_pb2.RecommendRequest(user_id=41, count=20), timeout=10)
    shown = feed.items[3].item_id
    e = stub.Explain(gateway_pb2.ExplainRequest(user_id=41, item_id=shown), timeout=10)
    assert (e.verdict, e.feed_position) == ("shown", 4) and e.channels and e.recall_position > 0
    stub.ReportEvents(gateway_pb2.ReportEventsRequest(events=[common_pb2.Event(
        event_id=uuid.uuid4().hex, user_id=41, item_id=shown, type=common_pb2.EVENT_TYPE_IMPRESSION)]),
        timeout=10)
    seen = stub.Explain(gateway_pb2.ExplainRequest(user_id=41, item_id=shown), timeout=10)
    assert seen.verdict == "filtered_seen" and "DropSeen" in seen.reason
    unknown = stub.Explain(gateway_pb2.ExplainRequest(user_id=41, item_id=10**12), timeout=10)
    assert unknown.verdict == "unknown_item"
    others = [stub.Explain(gateway_pb2.ExplainRequest(user_id=41, item_id=i), timeout=10).verdict
              for i in range(1, 40)]
    assert set(others) <= {"shown", "removed_by_rerank", "cut_by_rank", "filtered_seen", "not_recalled"}
    with pytest.raises(grpc.RpcError) as err:
        stub.Explain(gateway_pb2.ExplainRequest(user_id=41, item_id=0), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith("item_id")


requests = st.builds(
    gateway_pb2.RecommendRequest,
    user_id=st.integers(-(2**63), 2**63 - 1), count=st.integers(-(2**31), 2**31 - 1),
    context=st.dictionaries(st.sampled_from(["device", "local_hour", "region", "x", ""]) | st.text(max_size=5),
                            st.text(max_size=8), max_size=3),
    debug=st.booleans(), experiment=st.text(max_size=70))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests)
def test_fuzzed_recommend_requests_never_fail_internally(channel, request):
    stub = gateway_pb2_grpc.GatewayServiceStub(channel)
    try:
        stub.Recommend(request, timeout=10)
    except grpc.RpcError as err:
        assert err.code() in ALLOWED, (err.code(), err.details())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["Recommend", "ReportEvents", "Explain"]), st.binary(max_size=200),
       st.integers(0, 10**6))
def test_random_and_mutated_bytes_never_fail_internally(channel, method, blob, seed):
    valid = {"Recommend": gateway_pb2.RecommendRequest(user_id=3, count=5),
             "ReportEvents": gateway_pb2.ReportEventsRequest(events=[common_pb2.Event(
                 event_id="f", user_id=3, item_id=4, type=common_pb2.EVENT_TYPE_SKIP)]),
             "Explain": gateway_pb2.ExplainRequest(user_id=3, item_id=4)}[method].SerializeToString()
    mutated = bytearray(valid)
    for k in range(len(blob) % 4):
        mutated[(seed + 7 * k) % len(mutated)] ^= blob[k] if blob else 0xFF
    call = channel.unary_unary(f"/recsys.v1.GatewayService/{method}")
    for payload in (blob, bytes(mutated)):
        try:
            call(payload, timeout=10)
        except grpc.RpcError as err:
            assert err.code() in ALLOWED, (err.code(), err.details())


EXPERIMENTS = {"layers": [{"name": "rerank", "experiments": [
    {"id": "dpp", "percent": 50, "rerank_policy": "dpp"}]}]}


@pytest.fixture(scope="module")
def guarded(artifacts, redis_url, tmp_path_factory):
    """A stack with API keys, an experiment file and a tiny concurrency limit."""
    folder = tmp_path_factory.mktemp("guarded")
    exp_file = folder / "experiments.json"
    exp_file.write_text(json.dumps(EXPERIMENTS))
    prefix = f"test-guarded-{uuid.uuid4().hex[:6]}"
    bootstrap(artifacts[0], artifacts[1], redis_url, prefix, progress=False, say=lambda *_: None)
    s = Stack(artifacts[1], redis_url, prefix, folder / "logs", env={
        "GATEWAY_API_KEYS": "key-one-secret,key-two-secret", "GATEWAY_EXPERIMENTS_FILE": str(exp_file),
        "GATEWAY_MAX_CONCURRENT_RPCS": "2"})
    s.start()
    yield s, exp_file
    s.stop()


def call(stack, key=None, **kw):
    with grpc.insecure_channel(stack.address("gateway")) as ch:
        stub = gateway_pb2_grpc.GatewayServiceStub(ch)
        return stub.Recommend(gateway_pb2.RecommendRequest(count=kw.pop("count", 5), **kw), timeout=10,
                              metadata=[("x-api-key", key)] if key else None)


def test_api_keys(guarded):
    stack, _ = guarded
    for key in (None, "wrong"):
        with pytest.raises(grpc.RpcError) as err:
            call(stack, key, user_id=3)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert len(call(stack, "key-two-secret", user_id=3).items) == 5
    with grpc.insecure_channel(stack.address("gateway")) as ch:  # probes need no key
        reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert "secret" not in (stack.log_dir / "gateway.log").read_text()


def test_experiments_assign_override_and_reload(guarded):
    stack, exp_file = guarded
    ids = [call(stack, "key-one-secret", user_id=u).experiment for u in range(1, 41)]
    assert 5 <= ids.count("rerank:dpp") <= 35 and set(ids) <= {"", "rerank:dpp"}
    assert call(stack, "key-one-secret", user_id=ids.index("") + 1, experiment="dpp").experiment == "rerank:dpp"
    with pytest.raises(grpc.RpcError) as err:
        call(stack, "key-one-secret", user_id=1, experiment="nope")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    exp_file.write_text(json.dumps({"layers": [{"name": "rerank", "experiments": [
        {"id": "everyone_diverse", "percent": 100, "rerank_policy": "diverse"}]}]}))
    deadline = time.monotonic() + 5
    while call(stack, "key-one-secret", user_id=2).experiment != "rerank:everyone_diverse":
        assert time.monotonic() < deadline, "experiment config not reloaded"
        time.sleep(0.2)


def test_overload_is_shed_with_resource_exhausted(guarded):
    stack, _ = guarded
    codes, lock = [], threading.Lock()

    def one():
        try:
            call(stack, "key-one-secret", user_id=9, count=50)
            code = grpc.StatusCode.OK
        except grpc.RpcError as err:
            code = err.code()
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=one) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) > 0 and codes.count(grpc.StatusCode.OK) > 0
