"""One rank process serves both kinds of pre-ranker: the distilled MLP (a plain ONNX scorer,
live) and the two-tower pre-ranker (a user tower + per-version item vectors) as a canary,
then live; each user's candidates are cut by the version their bucket names, and nothing in
the service knows either kind beyond its manifest.

Runs its own rank process on a registry of its own so other tests keep their versions."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import grpc
import pytest
from recsys.v1 import common_pb2, model_admin_pb2, model_admin_pb2_grpc, rank_pb2, rank_pb2_grpc

from core.bucketing import in_share
from core.registry.reader import Registry
from dev.stack import Stack
from services.common.admin_auth import admin_channel
from training import train
from training.prerank_version import train_and_publish
from training.world import WorldConfig, generate

CANARY_PERCENT = 40
# Serving is what is tested, not quality: a small world of its own trains in seconds.
SMALL_WORLD = WorldConfig(seed=11, n_users=80, n_authors=20, n_videos=250, days=4)
CANDIDATES, KEEP = 300, 200  # more candidates than the pre-rank keeps, so it runs


@pytest.fixture(scope="module")
def rank(redis_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("prerank")
    world = generate(SMALL_WORLD, progress=False)
    world.save(root / "world")
    train.run(root / "world", root / "models", epochs=1)  # ranker + the default (MLP) pre-ranker, live
    registry = Registry(root / "models")
    mlp = registry.live_version("prerank")
    two_tower = train_and_publish(root / "models", world, "two_tower")
    s = Stack(root / "models", redis_url, f"test-prerank-{uuid.uuid4().hex[:6]}", tmp_path_factory.mktemp("logs"),
              env={"RANK_ALIAS_POLL_S": "0.2"})
    s.start_one("rank")
    s.wait_one("rank")
    with grpc.insecure_channel(s.address("rank")) as channel, admin_channel(s.admin_address(),
                                                                            s.admin_token) as admin:
        yield SimpleNamespace(stub=rank_pb2_grpc.RankServiceStub(channel),
                              admin=model_admin_pb2_grpc.ModelAdminServiceStub(admin),
                              registry=registry, mlp=mlp, two_tower=two_tower)
    s.stop()


def prerank_version(rank, user: int) -> str:
    reply = rank.stub.Rank(rank_pb2.RankRequest(user=common_pb2.UserContext(user_id=user),
                                                item_ids=list(range(1, CANDIDATES + 1)), top_k=50), timeout=10)
    assert len(reply.item_ids) == 50 and reply.prerank_kept == KEEP
    used = {m.name: m.version for m in reply.models}
    return used["prerank"]


def test_the_two_tower_version_is_a_user_tower_and_item_vectors_distilled_from_the_live_ranker(rank):
    manifest = rank.registry.open("prerank", rank.two_tower).manifest
    assert (manifest["kind"], manifest["architecture"]) == ("two_tower_prerank", "two_tower")
    assert {"model.onnx", "item_vectors.npy"} <= set(manifest["files"])
    assert manifest["distillation"]["teacher"] == f"ranker/{rank.registry.live_version('ranker')}"
    assert manifest["heads"] == rank.registry.open("ranker").manifest["heads"]


def test_a_two_tower_canary_beside_the_mlp_serves_the_users_its_bucket_names(rank):
    rank.admin.SetCanary(model_admin_pb2.SetCanaryRequest(
        model=common_pb2.ModelRef(name="prerank", version=rank.two_tower), percent=CANARY_PERCENT), timeout=60)
    served = {user: prerank_version(rank, user) for user in range(1, 81)}
    want = {u: rank.two_tower if in_share(u, CANARY_PERCENT, salt="canary:prerank") else rank.mlp for u in served}
    assert served == want and set(served.values()) == {rank.mlp, rank.two_tower}
    listed = rank.admin.ListVersions(model_admin_pb2.ListVersionsRequest(name="prerank"), timeout=10).versions
    roles = {v.version: (v.architecture, v.live, v.canary_percent) for v in listed}
    assert roles[rank.two_tower] == ("two_tower", False, CANARY_PERCENT) and roles[rank.mlp][:2] == ("mlp", True)


def test_the_two_tower_pre_ranker_promoted_serves_everyone_and_rolls_back(rank):
    rank.admin.Promote(model_admin_pb2.PromoteRequest(
        model=common_pb2.ModelRef(name="prerank", version=rank.two_tower)), timeout=60)
    assert {prerank_version(rank, user) for user in range(1, 41)} == {rank.two_tower}
    rank.admin.Rollback(model_admin_pb2.RollbackRequest(name="prerank"), timeout=60)
    assert {prerank_version(rank, user) for user in range(1, 41)} == {rank.mlp}
