"""API keys for the public API: `x-api-key` metadata, compared in constant time.

Health checks and reflection stay open (probes and tooling need them). Keys are never
logged; a rejected call logs only the method.
"""
from __future__ import annotations

import hmac
import logging

import grpc

log = logging.getLogger(__name__)
HEADER = "x-api-key"
PROTECTED_PREFIX = "/recsys.v1.GatewayService/"


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, keys: list[str]):
        self.keys = [k.encode() for k in keys if k]

    def _allowed(self, metadata) -> bool:
        given = next((v for k, v in metadata or () if k == HEADER), None)
        if given is None:
            return False
        given = given.encode() if isinstance(given, str) else given
        return any(hmac.compare_digest(given, key) for key in self.keys)

    async def intercept_service(self, continuation, details):
        if not self.keys or not details.method.startswith(PROTECTED_PREFIX) or self._allowed(
                details.invocation_metadata):
            return await continuation(details)
        log.warning("unauthenticated call", extra={"method": details.method})

        async def reject(request, context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"missing or wrong {HEADER}")

        handler = await continuation(details)
        return grpc.unary_unary_rpc_method_handler(
            reject, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)
