"""The HTTP API's credentials: a thin adapter over the gateway's key check.

Public calls carry a key in `x-api-key`; admin calls (campaigns) an admin key in
`x-admin-key`. `check` is the one seam: today it delegates to the gRPC interceptor's
constant-time key comparison (gateway/auth.py), so both edges accept the same keys.
With no keys configured at all the API is open (a local demo, as on the gRPC port); with
public keys but no admin keys, every admin call is refused.
"""
from __future__ import annotations

from collections.abc import Mapping

from core.errors import PermissionDenied, Unauthenticated
from gateway.auth import HEADER, ApiKeyInterceptor

ADMIN_HEADER = "x-admin-key"


class HttpAuth:
    def __init__(self, api_keys: list[str], admin_keys: list[str]):
        self.open = not api_keys and not admin_keys
        self._public = ApiKeyInterceptor(api_keys)
        self._admin = ApiKeyInterceptor(admin_keys)

    def _is_admin(self, headers: Mapping[str, str]) -> bool:
        given = headers.get(ADMIN_HEADER)
        return given is not None and self._admin._allowed([(HEADER, given)])

    def _is_public(self, headers: Mapping[str, str]) -> bool:
        given = headers.get(HEADER)
        return given is not None and self._public._allowed([(HEADER, given)])

    def check(self, headers: Mapping[str, str], admin: bool) -> None:
        """Raise Unauthenticated (no valid key) or PermissionDenied (a public key on an
        admin call); return when the call may go on. Keys are never logged or echoed."""
        if self.open or self._is_admin(headers):
            return
        if admin:
            if self._is_public(headers):
                raise PermissionDenied(f"this call needs an admin key in {ADMIN_HEADER}")
            raise Unauthenticated(f"missing or wrong {ADMIN_HEADER}")
        if not self._public.keys:  # only admin keys configured: the public API needs one too
            raise Unauthenticated(f"missing or wrong {ADMIN_HEADER}")
        if not self._is_public(headers):
            raise Unauthenticated(f"missing or wrong {HEADER}")
