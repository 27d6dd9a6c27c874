"""TLS between the services: the server side of a stage, the client side of its callers.

A stage serves TLS when it has a certificate and key (`*_TLS_CERT_FILE`, `*_TLS_KEY_FILE`),
and requires its callers to show a certificate signed by `*_TLS_CLIENT_CA_FILE` when that is
set too (mutual TLS, the way a service mesh authenticates workloads to each other). A caller
(the gateway) trusts the CA that signed the stages' certificates and, for mutual TLS, shows
its own. Certificates name the host the caller dials: `recall` for `dns:///recall:50051`.
Files are read once, at start: a rotated certificate takes a restart (a rolling one in
Kubernetes), as with most gRPC servers.
"""
from __future__ import annotations

from pathlib import Path

import grpc


def check_pair(cert: Path | None, key: Path | None, what: str) -> None:
    """A certificate and its key come together: one alone is a configuration mistake that
    would otherwise silently fall back to plaintext."""
    if (cert is None) != (key is None):
        raise ValueError(f"{what}: a certificate and its key are both needed, or neither")


def server_credentials(cert: Path, key: Path, client_ca: Path | None = None) -> grpc.ServerCredentials:
    """TLS with this certificate; with `client_ca`, callers must show a certificate it signed."""
    return grpc.ssl_server_credentials(
        [(key.read_bytes(), cert.read_bytes())],
        root_certificates=client_ca.read_bytes() if client_ca is not None else None,
        require_client_auth=client_ca is not None)


def channel_credentials(ca: Path | None, cert: Path | None = None,
                        key: Path | None = None) -> grpc.ChannelCredentials | None:
    """What a caller dials a TLS stage with: trust `ca`, show `cert` + `key` (mutual TLS) when
    given; None (plaintext) without a CA."""
    check_pair(cert, key, "client TLS")
    if ca is None:
        if cert is not None:
            raise ValueError("client TLS: a client certificate needs the CA of the servers it calls")
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=key.read_bytes() if key is not None else None,
        certificate_chain=cert.read_bytes() if cert is not None else None)
