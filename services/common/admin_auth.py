"""The bearer token of an internal admin port (the rank service's model admin API).

Callers send `authorization: Bearer <token>` (the scheme the Kubernetes API server uses for
its tokens); the token is compared in constant time and never logged. An admin port is
served only when a token is configured, and bound to loopback by default, so it is reachable
from inside the pod (kubectl exec / port-forward), never from the serving network.
"""
from __future__ import annotations

import hmac
import logging
from collections import namedtuple

import grpc

from core.errors import Unauthenticated

log = logging.getLogger(__name__)
HEADER = "authorization"
SCHEME = "bearer "


def check_bearer(metadata, token: str) -> None:
    """Raise Unauthenticated unless `metadata` (pairs) carries `Bearer <token>`."""
    given = next((v for k, v in metadata or () if k.lower() == HEADER), None)
    if isinstance(given, bytes):
        given = given.decode("latin-1")
    if not token or given is None or not given.lower().startswith(SCHEME):
        raise Unauthenticated(f"{HEADER}: a bearer token is required")
    if not hmac.compare_digest(given[len(SCHEME):].strip().encode(), token.encode()):
        raise Unauthenticated(f"{HEADER}: wrong token")


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str):
        self.token = token

    async def intercept_service(self, continuation, details):
        try:
            check_bearer(details.invocation_metadata, self.token)
        except Unauthenticated as err:
            log.warning("admin call refused", extra={"method": details.method})
            message = str(err)
        else:
            return await continuation(details)
        handler = await continuation(details)
        if handler is None:
            return None

        async def reject(request, context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

        return grpc.unary_unary_rpc_method_handler(
            reject, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)


class _CallDetails(namedtuple("_CallDetails", ("method", "timeout", "metadata", "credentials",
                                               "wait_for_ready", "compression")), grpc.ClientCallDetails):
    pass


class _WithToken(grpc.UnaryUnaryClientInterceptor):
    """Adds the token to every call (as grpc's examples/python/interceptors/headers do)."""

    def __init__(self, token: str):
        self.metadata = ((HEADER, f"Bearer {token}"),)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(_CallDetails(
            details.method, details.timeout, tuple(details.metadata or ()) + self.metadata,
            details.credentials, details.wait_for_ready, details.compression), request)


def admin_channel(address: str, token: str) -> grpc.Channel:
    """A (blocking) channel to an admin port that sends the bearer token with every call."""
    return grpc.intercept_channel(grpc.insecure_channel(address), _WithToken(token))
