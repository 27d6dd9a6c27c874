"""The gateway talks to recall, rank and rerank over mutual TLS: with every stage serving TLS
and requiring a client certificate, a feed is served whole (nothing degraded), while a
plaintext caller, or one without the gateway's certificate, gets nothing from a stage."""
from __future__ import annotations

import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from recsys.v1 import gateway_pb2, gateway_pb2_grpc

from dev.redis_server import drop_prefix
from dev.stack import Stack, bootstrap
from services.common.tls import channel_credentials
from tests.tls_helpers import TestCA

STAGES = ("recall", "rank", "rerank")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    ca = TestCA(tmp_path_factory.mktemp("pki"))
    # One certificate per stage, for the host the gateway dials (here 127.0.0.1; in
    # Kubernetes the Service name, e.g. `recall`).
    return ca, {s: ca.issue(s, hosts=("127.0.0.1",)) for s in STAGES}, ca.issue("gateway", client=True)


@pytest.fixture(scope="module")
def tls_stack(artifacts, redis_url, pki, tmp_path_factory):
    ca, servers, gateway = pki
    env = {"GATEWAY_STAGE_TLS_CA_FILE": str(ca.cert), "GATEWAY_STAGE_TLS_CERT_FILE": str(gateway.cert),
           "GATEWAY_STAGE_TLS_KEY_FILE": str(gateway.key)}
    for stage, issued in servers.items():
        env.update({f"{stage.upper()}_TLS_CERT_FILE": str(issued.cert),
                    f"{stage.upper()}_TLS_KEY_FILE": str(issued.key),
                    f"{stage.upper()}_TLS_CLIENT_CA_FILE": str(ca.cert)})
    prefix = f"test-tls-{uuid.uuid4().hex[:6]}"
    bootstrap(artifacts[0], artifacts[1], redis_url, prefix, progress=False, say=lambda *_: None)
    s = Stack(artifacts[1], redis_url, prefix, tmp_path_factory.mktemp("logs"), env=env)
    s.start()
    yield s
    s.stop()
    drop_prefix(redis_url, prefix)


def test_the_gateway_serves_a_whole_feed_through_tls_stages(tls_stack):
    with grpc.insecure_channel(tls_stack.address("gateway")) as channel:
        reply = gateway_pb2_grpc.GatewayServiceStub(channel).Recommend(
            gateway_pb2.RecommendRequest(user_id=42, count=10), timeout=30)
    assert len(reply.items) == 10
    assert list(reply.degraded) == []


def health_code(address: str, credentials: grpc.ChannelCredentials | None) -> grpc.StatusCode:
    channel = (grpc.secure_channel(address, credentials) if credentials is not None
               else grpc.insecure_channel(address))
    with channel:
        try:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            return grpc.StatusCode.OK
        except grpc.RpcError as err:
            return err.code()


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_answers_only_callers_with_the_gateways_certificate(tls_stack, pki, stage):
    ca, _, gateway = pki
    address = tls_stack.address(stage)
    assert health_code(address, channel_credentials(ca.cert, gateway.cert, gateway.key)) == grpc.StatusCode.OK
    assert health_code(address, None) == grpc.StatusCode.UNAVAILABLE
    assert health_code(address, channel_credentials(ca.cert)) == grpc.StatusCode.UNAVAILABLE
