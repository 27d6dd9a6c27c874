"""TLS credentials on a real in-process grpc.aio server with a CA made at test time."""
import asyncio

import grpc
import pytest

from dev.redis_server import free_port
from services.common.settings import ServiceSettings
from services.common.tls import channel_credentials, check_pair, server_credentials
from tests.tls_helpers import TestCA


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    ca = TestCA(tmp_path_factory.mktemp("pki"))
    return ca, ca.issue("server", hosts=("127.0.0.1", "localhost")), ca.issue("client", client=True)


async def _echo(credentials: grpc.ServerCredentials):
    async def say(request: bytes, context) -> bytes:
        return request
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        "test.Echo", {"Say": grpc.unary_unary_rpc_method_handler(say)})])
    port = server.add_secure_port(f"127.0.0.1:{free_port()}", credentials)
    await server.start()
    return server, f"127.0.0.1:{port}"


async def _code(address: str, credentials: grpc.ChannelCredentials | None) -> grpc.StatusCode:
    channel = (grpc.aio.secure_channel(address, credentials) if credentials is not None
               else grpc.aio.insecure_channel(address))
    async with channel:
        try:
            await channel.unary_unary("/test.Echo/Say")(b"x", timeout=5)
            return grpc.StatusCode.OK
        except grpc.RpcError as err:
            return err.code()


def test_mutual_tls_answers_only_callers_with_a_certificate_the_ca_signed(pki, tmp_path):
    ca, server, client = pki
    stranger = TestCA(tmp_path / "other").issue("stranger", client=True)

    async def go():
        srv, address = await _echo(server_credentials(server.cert, server.key, client_ca=ca.cert))
        try:
            return [await _code(address, creds) for creds in (
                channel_credentials(ca.cert, client.cert, client.key),
                None,                                                   # plaintext
                channel_credentials(ca.cert),                           # no client certificate
                channel_credentials(ca.cert, stranger.cert, stranger.key),  # another CA's
            )]
        finally:
            await srv.stop(None)
    ok, *refused = asyncio.run(go())
    assert ok == grpc.StatusCode.OK
    assert refused == [grpc.StatusCode.UNAVAILABLE] * 3


def test_server_only_tls_answers_any_caller_that_trusts_the_ca(pki, tmp_path):
    ca, server, _ = pki

    async def go():
        srv, address = await _echo(server_credentials(server.cert, server.key))
        try:
            return (await _code(address, channel_credentials(ca.cert)),
                    await _code(address, channel_credentials(TestCA(tmp_path / "other").cert)))
        finally:
            await srv.stop(None)
    assert asyncio.run(go()) == (grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE)


def test_no_ca_is_plaintext_and_half_configured_tls_is_refused(pki):
    ca, _, client = pki
    assert channel_credentials(None) is None
    with pytest.raises(ValueError, match="both needed"):
        check_pair(client.cert, None, "client TLS")
    with pytest.raises(ValueError, match="needs the CA"):
        channel_credentials(None, client.cert, client.key)


def test_service_settings_refuse_tls_that_would_silently_be_plaintext(pki):
    ca, server, _ = pki
    with pytest.raises(ValueError, match="tls_cert_file / tls_key_file"):
        ServiceSettings(tls_cert_file=server.cert)
    with pytest.raises(ValueError, match="tls_client_ca_file"):
        ServiceSettings(tls_client_ca_file=ca.cert)
    assert ServiceSettings(tls_cert_file=server.cert, tls_key_file=server.key, tls_client_ca_file=ca.cert)
