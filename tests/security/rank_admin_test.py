"""The model admin API is never on the rank service's serving port, and its own port wants
the token."""
from __future__ import annotations

import shutil
import uuid

import grpc
import pytest
from recsys.v1 import model_admin_pb2, model_admin_pb2_grpc

from dev.stack import Stack
from services.common.admin_auth import admin_channel


@pytest.fixture(scope="module")
def rank(artifacts, redis_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("rank-admin-registry")
    for name in ("ranker", "prerank"):
        shutil.copytree(artifacts[1] / name, root / name)
    s = Stack(root, redis_url, f"test-admin-{uuid.uuid4().hex[:6]}", tmp_path_factory.mktemp("logs"))
    s.start_one("rank")
    s.wait_one("rank")
    yield s
    s.stop()


def list_versions(channel, **kw):
    return model_admin_pb2_grpc.ModelAdminServiceStub(channel).ListVersions(
        model_admin_pb2.ListVersionsRequest(name="ranker"), timeout=10, **kw)


def test_the_serving_port_has_no_admin_api(rank):
    with grpc.insecure_channel(rank.address("rank")) as channel:
        for metadata in (None, rank.admin_metadata()):
            with pytest.raises(grpc.RpcError) as err:
                list_versions(channel, metadata=metadata)
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_the_admin_port_wants_the_token(rank):
    assert rank.admin_address().startswith("127.0.0.1:")
    with grpc.insecure_channel(rank.admin_address()) as channel:
        for metadata in (None, [("authorization", "Bearer wrong")], [("authorization", rank.admin_token)]):
            with pytest.raises(grpc.RpcError) as err:
                list_versions(channel, metadata=metadata)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with admin_channel(rank.admin_address(), rank.admin_token) as channel:
        assert any(v.live for v in list_versions(channel).versions)
    assert rank.admin_token not in (rank.log_dir / "rank.log").read_text()


def test_without_a_token_the_admin_api_is_off(artifacts, redis_url, tmp_path):
    s = Stack(artifacts[1], redis_url, "test-admin-off", tmp_path, env={"RANK_ADMIN_TOKEN": ""})
    s.start_one("rank")
    try:
        s.wait_one("rank")
        with grpc.insecure_channel(s.admin_address()) as channel:
            with pytest.raises(grpc.RpcError) as err:
                list_versions(channel, metadata=s.admin_metadata())
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        s.stop()
    assert "model admin API is off" in (tmp_path / "rank.log").read_text()
