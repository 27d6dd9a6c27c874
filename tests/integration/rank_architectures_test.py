"""One rank process serves two architectures at once: DCN-v2 live and PLE as a canary, each
user on the version its bucket names, and swaps between them under load fail no request.

Nothing in the service knows either architecture: both versions declare the same inputs and
heads in their manifests, and the feature assembly follows the manifest. Runs its own rank
process on a copy of the registry so other tests keep their versions."""
from __future__ import annotations

import shutil
import threading
import time
import uuid
from types import SimpleNamespace

import grpc
import pytest
from recsys.v1 import common_pb2, model_admin_pb2, model_admin_pb2_grpc, rank_pb2, rank_pb2_grpc

from core.bucketing import in_share
from core.registry.reader import Registry
from dev.stack import Stack
from services.common.admin_auth import admin_channel
from training.ranker_version import train_and_publish
from training.world import World

CANARY_PERCENT = 30
# Serving is what is tested, not quality: a slice of the rows and one epoch train in seconds.
TRAIN_ROWS = 20_000


@pytest.fixture(scope="module")
def rank(artifacts, redis_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("arch-registry")
    for name in ("ranker", "prerank"):
        shutil.copytree(artifacts[1] / name, root / name)
    registry = Registry(root)
    world = World.load(artifacts[0])
    versions = {name: train_and_publish(root, world, name, max_rows=TRAIN_ROWS, make_live=name == "dcn_v2")
                for name in ("dcn_v2", "ple")}
    s = Stack(root, redis_url, f"test-arch-{uuid.uuid4().hex[:6]}", tmp_path_factory.mktemp("logs"),
              env={"RANK_ALIAS_POLL_S": "0.2"})
    s.start_one("rank")
    s.wait_one("rank")
    with grpc.insecure_channel(s.address("rank")) as channel, admin_channel(s.admin_address(),
                                                                            s.admin_token) as admin:
        yield SimpleNamespace(stub=rank_pb2_grpc.RankServiceStub(channel),
                              admin=model_admin_pb2_grpc.ModelAdminServiceStub(admin),
                              registry=registry, versions=versions)
    s.stop()


def rank_request(user: int, n: int = 300) -> rank_pb2.RankRequest:
    return rank_pb2.RankRequest(user=common_pb2.UserContext(user_id=user), item_ids=list(range(1, n + 1)), top_k=50)


def set_canary(rank, version: str, percent: float) -> None:
    rank.admin.SetCanary(model_admin_pb2.SetCanaryRequest(
        model=common_pb2.ModelRef(name="ranker", version=version), percent=percent), timeout=60)


def test_the_manifests_name_two_architectures_with_the_same_inputs_and_heads(rank):
    dcn = rank.registry.open("ranker", rank.versions["dcn_v2"]).manifest
    ple = rank.registry.open("ranker", rank.versions["ple"]).manifest
    assert (dcn["architecture"], ple["architecture"]) == ("dcn_v2", "ple")
    assert ple["hyperparameters"]["levels"] == 2 and dcn["hyperparameters"]["structure"] == "parallel"
    assert dcn["inputs"] == ple["inputs"] and dcn["heads"] == ple["heads"]


def test_live_and_canary_of_two_architectures_serve_the_users_their_buckets_name(rank):
    dcn, ple = rank.versions["dcn_v2"], rank.versions["ple"]
    set_canary(rank, ple, CANARY_PERCENT)
    served = {}
    for user in range(1, 121):
        reply = rank.stub.Rank(rank_request(user), timeout=10)
        assert len(reply.item_ids) == 50 and len(reply.head_scores) == 50 * len(reply.heads)
        served[user] = reply.model.version
    want = {u: ple if in_share(u, CANARY_PERCENT, salt="canary:ranker") else dcn for u in served}
    assert served == want
    assert set(served.values()) == {dcn, ple}
    listed = rank.admin.ListVersions(model_admin_pb2.ListVersionsRequest(name="ranker"), timeout=10).versions
    roles = {v.version: (v.architecture, v.live, v.canary_percent) for v in listed}
    assert roles[dcn] == ("dcn_v2", True, 0.0) and roles[ple] == ("ple", False, CANARY_PERCENT)


def test_swaps_between_architectures_under_load_fail_no_request(rank):
    dcn, ple = rank.versions["dcn_v2"], rank.versions["ple"]
    stop, errors, served = threading.Event(), [], []

    def load(offset: int):
        user = offset
        while not stop.is_set():
            user += 4
            try:
                served.append(rank.stub.Rank(rank_request(user % 500 + 1), timeout=10).model.version)
            except grpc.RpcError as err:
                errors.append(err.code())

    workers = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    for w in workers:
        w.start()
    try:
        for step in range(6):
            target, other = (ple, dcn) if step % 2 == 0 else (dcn, ple)
            rank.admin.Promote(model_admin_pb2.PromoteRequest(
                model=common_pb2.ModelRef(name="ranker", version=target)), timeout=60)
            set_canary(rank, other, 50)
            time.sleep(0.3)
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert errors == []
    assert {dcn, ple} <= set(served) and len(served) > 30
    reply = rank.stub.Rank(rank_request(1), timeout=10)
    assert reply.model.version in (dcn, ple)
