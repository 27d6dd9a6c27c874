"""Gateway settings: TLS to the stages is configured whole or refused."""
import grpc
import pytest

from gateway.settings import GatewaySettings
from tests.tls_helpers import TestCA


def test_stage_tls_is_plaintext_unset_tls_with_a_ca_and_refused_half_configured(tmp_path):
    ca = TestCA(tmp_path)
    client = ca.issue("gateway", client=True)
    assert GatewaySettings().stage_credentials() is None
    assert isinstance(GatewaySettings(stage_tls_ca_file=ca.cert).stage_credentials(), grpc.ChannelCredentials)
    assert GatewaySettings(stage_tls_ca_file=ca.cert, stage_tls_cert_file=client.cert,
                           stage_tls_key_file=client.key).stage_credentials() is not None
    with pytest.raises(ValueError, match="stage_tls_cert_file / stage_tls_key_file"):
        GatewaySettings(stage_tls_ca_file=ca.cert, stage_tls_cert_file=client.cert)
    with pytest.raises(ValueError, match="stage_tls_ca_file"):
        GatewaySettings(stage_tls_cert_file=client.cert, stage_tls_key_file=client.key)
