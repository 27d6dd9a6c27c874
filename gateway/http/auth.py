"""The HTTP API's credentials: the gateway's one key check (gateway/auth.py `Authorizer`),
called with the request's headers.

Public calls carry a key in `x-api-key`; admin calls (campaigns) an admin key in
`x-admin-key`. Each HTTP route is checked as the gRPC method it serves, so both edges accept
the same keys, refuse the same way (401 / 403 / 429) and share the per-key rate limits.
"""
from __future__ import annotations

from collections.abc import Mapping

from gateway.auth import ADMIN_HEADER, Authorizer

__all__ = ["ADMIN_HEADER", "HttpAuth"]
PUBLIC_SERVICE = "/recsys.v1.GatewayService/"
ADMIN_SERVICE = "/recsys.v1.CampaignService/"


class HttpAuth:
    def __init__(self, authorizer: Authorizer):
        self.authorizer = authorizer

    @property
    def open(self) -> bool:
        return not self.authorizer.enabled

    def check(self, headers: Mapping[str, str], admin: bool, method: str = "Http") -> None:
        """Raise Unauthenticated (no valid key), PermissionDenied (a public key on an admin
        call) or Overloaded (the key's rate limit); return when the call may go on."""
        self.authorizer.authorize((ADMIN_SERVICE if admin else PUBLIC_SERVICE) + method, headers)
