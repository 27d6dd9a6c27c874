"""Who may call the gateway: API keys for clients, admin keys for writes. Fails closed.

    x-api-key: <key>      one of GATEWAY_API_KEYS    every public method (Recommend, ReportEvents, Explain)
    x-admin-key: <key>    one of GATEWAY_ADMIN_KEYS  admin methods (CatalogService: PublishItem, RemoveItem;
                                                     CampaignService), and every public method too

Only health checks and reflection are open (probes and tooling need them); any other method,
including one added later and not listed anywhere, needs a key. A public key on an admin
method is PERMISSION_DENIED; no key or a wrong one is UNAUTHENTICATED. Keys are compared in
constant time and never logged; rejected calls are logged sampled (a flood of bad keys must
not become a flood of log lines) and counted in `recsys_auth_rejected_total`.

`Authorizer.authorize(method, headers)` is the one check, free of any transport: the gRPC
interceptor below calls it with the call's metadata, an HTTP handler with its headers
(lower-case names), mapping its route to the gRPC method name it serves.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import grpc

from core import metrics
from core.errors import Overloaded, PermissionDenied, RecsysError, Unauthenticated
from gateway.limits import KeyedBuckets, check
from services.common.errors import status_of

log = logging.getLogger(__name__)
HEADER = "x-api-key"
ADMIN_HEADER = "x-admin-key"
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/",
                 "/grpc.reflection.v1.ServerReflection/")
ADMIN_PREFIXES = ("/recsys.v1.CatalogService/", "/recsys.v1.CampaignService/")

Headers = Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]]


@dataclass(frozen=True)
class Caller:
    """Who made an authorized call. `key_id` names the key without revealing it (a short
    hash; "open" for open methods, "anonymous" with auth off), for per-key limits and logs."""

    key_id: str
    admin: bool


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:12]


def header_value(headers: Headers, name: str) -> bytes | None:
    """The value of header `name` (lower case) as bytes, None when absent."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for key, value in pairs:
        if key.lower() == name:
            return value.encode() if isinstance(value, str) else bytes(value)
    return None


def is_admin_method(method: str) -> bool:
    return method.startswith(ADMIN_PREFIXES)


def is_open_method(method: str) -> bool:
    return method.startswith(OPEN_PREFIXES)


class Authorizer:
    """The key check. `enabled=False` (GATEWAY_AUTH=off) lets every call through: a local demo."""

    def __init__(self, api_keys: Iterable[str], admin_keys: Iterable[str] = (), enabled: bool = True,
                 key_limit: KeyedBuckets | None = None):
        self.key_limit = key_limit or KeyedBuckets(0, 0)
        self.api_keys = [k.encode() for k in api_keys if k]
        self.admin_keys = [k.encode() for k in admin_keys if k]
        self.enabled = enabled
        if enabled and not self.api_keys:
            raise ValueError("GATEWAY_API_KEYS is empty: refusing to serve an open API "
                             "(set keys, or GATEWAY_AUTH=off for a local demo)")
        if set(self.api_keys) & set(self.admin_keys):
            raise ValueError("a key is in both GATEWAY_API_KEYS and GATEWAY_ADMIN_KEYS: "
                             "the admin credential must be distinct from the public one")

    @staticmethod
    def _match(given: bytes | None, keys: list[bytes]) -> bytes | None:
        if given is None:
            return None
        found = None
        for key in keys:  # no early exit: the time taken does not say which key came close
            if hmac.compare_digest(given, key):
                found = key
        return found

    def is_admin(self, headers: Headers) -> bool:
        """Whether the call carries a valid admin key (always, with auth off)."""
        return not self.enabled or self._match(header_value(headers, ADMIN_HEADER), self.admin_keys) is not None

    def authorize(self, method: str, headers: Headers) -> Caller:
        """The caller of `method` (full gRPC name, "/pkg.Service/Method") with these headers,
        or Unauthenticated (no or wrong key) / PermissionDenied (a public key on an admin method)
        / Overloaded (the key is over its rate limit)."""
        caller = self._identify(method, headers)
        if caller.key_id != "open":
            check(self.key_limit, "per_key", caller.key_id)
        return caller

    def _identify(self, method: str, headers: Headers) -> Caller:
        if is_open_method(method):
            return Caller("open", admin=False)
        if not self.enabled:
            return Caller("anonymous", admin=True)
        admin_given = header_value(headers, ADMIN_HEADER)
        if admin_given is not None:
            key = self._match(admin_given, self.admin_keys)
            if key is None:
                raise Unauthenticated(f"wrong {ADMIN_HEADER}")
            return Caller(_key_id(key), admin=True)
        key = self._match(header_value(headers, HEADER), self.api_keys)
        if key is None:
            raise Unauthenticated(f"missing or wrong {HEADER}")
        if is_admin_method(method):
            raise PermissionDenied(f"{method} needs an admin credential ({ADMIN_HEADER})")
        return Caller(_key_id(key), admin=False)


class SampledLog:
    """At most one line per `every_s` for each (method, code), saying how many it stood for."""

    def __init__(self, every_s: float = 10.0, clock=time.monotonic):
        self.every_s, self.clock = every_s, clock
        self._last: dict[tuple[str, str], float] = {}
        self._skipped: dict[tuple[str, str], int] = {}

    def should_log(self, method: str, code: str) -> int:
        """0 to stay quiet, else the number of rejections this line stands for."""
        key, now = (method, code), self.clock()
        if now - self._last.get(key, float("-inf")) < self.every_s:
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return 0
        self._last[key] = now
        return 1 + self._skipped.pop(key, 0)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Runs `Authorizer.authorize` before any handler; a refused call never reaches it."""

    def __init__(self, authorizer: Authorizer, sampled: SampledLog | None = None):
        self.authorizer, self.sampled = authorizer, sampled or SampledLog()

    async def intercept_service(self, continuation, details):
        try:
            self.authorizer.authorize(details.method, details.invocation_metadata or ())
        except (Unauthenticated, PermissionDenied, Overloaded) as err:
            refusal: RecsysError = err
        else:
            return await continuation(details)
        code = status_of(refusal)
        if not isinstance(refusal, Overloaded):  # rate limits count in recsys_rate_limited_total
            metrics.AUTH_REJECTED.labels(details.method, code.name).inc()
        count = self.sampled.should_log(details.method, code.name)
        if count:
            log.warning("call refused", extra={"method": details.method, "code": code.name, "count": count})
        handler = await continuation(details)
        if handler is None:  # an unknown method: gRPC answers UNIMPLEMENTED, nothing leaks
            return None

        async def reject(request, context):
            await context.abort(code, str(refusal))

        return grpc.unary_unary_rpc_method_handler(
            reject, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)
