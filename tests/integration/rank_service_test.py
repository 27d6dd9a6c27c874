"""The rank service over gRPC: two stages, pinned versions, the admin API, and zero failed
requests while versions swap under load. Runs its own rank process on a copy of the
registry so that swapping versions does not disturb other tests."""
from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from types import SimpleNamespace

import grpc
import pytest
from recsys.v1 import common_pb2, model_admin_pb2, model_admin_pb2_grpc, rank_pb2, rank_pb2_grpc

from core.registry.reader import Registry
from dev.stack import Stack
from services.common.admin_auth import admin_channel
from tests.registry_helpers import republish


@pytest.fixture(scope="module")
def rank(artifacts, redis_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("rank-registry")
    for name in ("ranker", "prerank"):
        shutil.copytree(artifacts[1] / name, root / name)
    registry = Registry(root)
    v2 = republish(registry, "ranker")
    s = Stack(root, redis_url, f"test-rank-{uuid.uuid4().hex[:6]}", tmp_path_factory.mktemp("logs"),
              env={"RANK_ALIAS_POLL_S": "0.2"})
    s.start_one("rank")
    s.wait_one("rank")
    with grpc.insecure_channel(s.address("rank")) as channel, admin_channel(s.admin_address(),
                                                                            s.admin_token) as admin:
        yield SimpleNamespace(stub=rank_pb2_grpc.RankServiceStub(channel),
                              admin=model_admin_pb2_grpc.ModelAdminServiceStub(admin),
                              registry=registry, v2=v2, address=s.address("rank"),
                              admin_address=s.admin_address(), admin_token=s.admin_token)
    s.stop()


def rank_request(registry, n=600, user=5, **kw):
    ids = list(range(1, n + 1))
    return rank_pb2.RankRequest(user=common_pb2.UserContext(user_id=user), item_ids=ids, top_k=50, **kw)


def test_two_stages_and_versions_in_the_response(rank):
    stub, registry = rank.stub, rank.registry
    reply = stub.Rank(rank_request(registry), timeout=5)
    assert len(reply.item_ids) == 50 and reply.prerank_kept == 200
    assert {m.name for m in reply.models} == {"ranker", "prerank"}
    assert len(reply.head_scores) == 50 * len(reply.heads)
    small = stub.Rank(rank_request(registry, n=100), timeout=5)
    assert small.prerank_kept == 100 and {m.name for m in small.models} == {"ranker"}


def test_pinned_versions(rank):
    stub, registry, v2 = rank.stub, rank.registry, rank.v2
    pinned = stub.Rank(rank_request(registry, model=common_pb2.ModelRef(name="ranker", version=v2)), timeout=5)
    assert pinned.model.version == v2
    with pytest.raises(grpc.RpcError) as err:
        stub.Rank(rank_request(registry, model=common_pb2.ModelRef(name="ranker", version="v0404")), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_admin_api_errors(rank):
    admin = rank.admin
    cases = [
        (admin.Promote, model_admin_pb2.PromoteRequest(model=common_pb2.ModelRef(name="ranker", version="v0404")),
         grpc.StatusCode.NOT_FOUND),
        (admin.Promote, model_admin_pb2.PromoteRequest(model=common_pb2.ModelRef(name="nope", version="v0001")),
         grpc.StatusCode.NOT_FOUND),
        (admin.SetCanary, model_admin_pb2.SetCanaryRequest(
            model=common_pb2.ModelRef(name="ranker", version="v0001"), percent=150), grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for call, request, code in cases:
        with pytest.raises(grpc.RpcError) as err:
            call(request, timeout=10)
        assert err.value.code() == code


def test_swaps_under_load_fail_no_request(rank):
    stub, admin, registry, v2 = rank.stub, rank.admin, rank.registry, rank.v2
    v1 = registry.live_version("ranker")
    stop, errors, served = threading.Event(), [], []

    def load():
        while not stop.is_set():
            try:
                served.append(stub.Rank(rank_request(registry), timeout=5).model.version)
            except grpc.RpcError as err:
                errors.append(err.code())

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    try:
        for i in range(10):
            target = v2 if i % 2 == 0 else v1
            if i % 3 == 2:  # every third roll goes through the alias file, as a ConfigMap would
                registry.set_live("ranker", target)
                time.sleep(0.6)
            else:
                admin.Promote(model_admin_pb2.PromoteRequest(
                    model=common_pb2.ModelRef(name="ranker", version=target)), timeout=30)
            time.sleep(0.1)
        canary = admin.SetCanary(model_admin_pb2.SetCanaryRequest(
            model=common_pb2.ModelRef(name="ranker", version=v2), percent=20), timeout=30)
        assert canary.percent == 20
        time.sleep(0.3)
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert errors == []
    assert {v1, v2} <= set(served) and len(served) > 50
    listed = admin.ListVersions(model_admin_pb2.ListVersionsRequest(name="ranker"), timeout=5).versions
    live = [v.version for v in listed if v.live]
    assert live == [registry.live_version("ranker")]
    assert [v.canary_percent for v in listed if v.version == v2] == [20.0] or live == [v2]
    back = admin.Rollback(model_admin_pb2.RollbackRequest(name="ranker"), timeout=30)
    assert back.live.version == json.loads(registry.aliases_path("ranker").read_text())["live"]


def test_admin_cli(rank, capsys, monkeypatch):
    from services.rank import admin_cli
    addr = rank.admin_address
    monkeypatch.setenv("RANK_ADMIN_TOKEN", rank.admin_token)
    assert admin_cli.main(["--addr", addr, "list", "--model", "ranker"]) == 0
    assert '"live": true' in capsys.readouterr().out
    assert admin_cli.main(["--addr", addr, "promote", "--model", "ranker", "--version", "v0404"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_a_refused_version_shows_in_health_while_the_old_one_serves(rank):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    registry = rank.registry
    before = registry.aliases("ranker")
    bad = republish(registry, "ranker")
    (registry.root / "ranker" / bad / "model.onnx").write_bytes(b"corrupt")
    path = registry.aliases_path("ranker")
    path.write_text(json.dumps({**before, "live": bad}))

    def status(name: str) -> int:
        with grpc.insecure_channel(rank.address) as ch:
            return health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
    try:
        deadline = time.monotonic() + 10
        while status("recsys.v1.RankService/ranker") != health_pb2.HealthCheckResponse.NOT_SERVING:
            assert time.monotonic() < deadline, "health never reported the refused version"
            time.sleep(0.2)
        assert status("") == health_pb2.HealthCheckResponse.SERVING  # readiness: still serving
        reply = rank.stub.Rank(rank_request(registry), timeout=10)
        assert reply.model.version == before["live"]
    finally:
        path.write_text(json.dumps(before))
    deadline = time.monotonic() + 10
    while status("recsys.v1.RankService/ranker") != health_pb2.HealthCheckResponse.SERVING:
        assert time.monotonic() < deadline, "health did not recover once the alias named a good version"
        time.sleep(0.2)


def test_watched_views_are_accepted_and_their_lists_must_line_up(rank):
    stub, registry = rank.stub, rank.registry
    now = int(time.time() * 1000)
    views = common_pb2.UserState(watched_items=[3, 4], watched_ms=[9_000, 500], watched_ts_ms=[now, now - 1])
    reply = stub.Rank(rank_request(registry, state=views), timeout=5)
    assert len(reply.item_ids) == 50
    for bad, field in ((common_pb2.UserState(watched_items=[3, 4], watched_ms=[9_000], watched_ts_ms=[now, now]),
                        "state.watched_ms"),
                       (common_pb2.UserState(watched_items=[3], watched_ms=[9_000]), "state.watched_ts_ms"),
                       (common_pb2.UserState(watched_items=[3], watched_ms=[-1], watched_ts_ms=[now]),
                        "state.watched_ms")):
        with pytest.raises(grpc.RpcError) as err:
            stub.Rank(rank_request(registry, state=bad), timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in err.value.details()
