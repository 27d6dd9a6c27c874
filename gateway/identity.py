"""End-user identity: signed user tokens, so an API key holder cannot act as any user.

An API key says which *application* calls; it does not say which *person*. With
GATEWAY_USER_TOKEN_SECRET set, every Recommend, Explain and ReportEvents call must also carry
`x-user-token`: a JWT (HS256, PyJWT) whose `sub` is the user id, signed with that secret by the
app's login backend, with an `exp`. A call may only name that user (every event's user_id
too); otherwise PERMISSION_DENIED, and no or a bad token is UNAUTHENTICATED. Asking for
`debug` or forcing an `experiment` is for operators: it needs the admin key. An admin key
also may name any user (support tools, Explain on someone's feed).

Unset (the default, and the local stack), none of this applies: the API key is the whole
check, as before. Transport-free: the gRPC servicer and an HTTP handler both call `check`.
"""
from __future__ import annotations

import time
from collections.abc import Iterable

import jwt

from core.errors import PermissionDenied, Unauthenticated
from gateway.auth import Authorizer, Headers, header_value

HEADER = "x-user-token"
ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key at least as long as the hash


class UserTokens:
    def __init__(self, secret: str, authorizer: Authorizer, leeway_s: float = 30.0):
        if secret and len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"GATEWAY_USER_TOKEN_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        self.secret, self.authorizer, self.leeway_s = secret, authorizer, leeway_s

    @property
    def enabled(self) -> bool:
        return bool(self.secret)

    def issue(self, user_id: int, ttl_s: float = 3600.0, now: float | None = None) -> str:
        """A token for `user_id` (what a login backend does; here for tests and tools)."""
        now = time.time() if now is None else now
        return jwt.encode({"sub": str(int(user_id)), "iat": int(now), "exp": int(now + ttl_s)},
                          self.secret, algorithm=ALGORITHM)

    def user_of(self, headers: Headers) -> int:
        """The verified user id of the call's token, or Unauthenticated."""
        token = header_value(headers, HEADER)
        if token is None:
            raise Unauthenticated(f"{HEADER}: required")
        try:
            claims = jwt.decode(token, self.secret, algorithms=[ALGORITHM], leeway=self.leeway_s,
                                options={"require": ["exp", "sub"]})
            return int(claims["sub"])
        except (jwt.PyJWTError, ValueError) as err:
            raise Unauthenticated(f"{HEADER}: {type(err).__name__}") from None

    def check(self, headers: Headers, user_ids: Iterable[int], privileged: bool = False) -> None:
        """Allow a call naming `user_ids` (privileged: asks for debug or an experiment)."""
        if not self.enabled or self.authorizer.is_admin(headers):
            return
        if privileged:
            raise PermissionDenied("debug and experiment: need an admin credential")
        user = self.user_of(headers)
        other = sorted(set(user_ids) - {user})
        if other:
            raise PermissionDenied(f"user_id: the token is for another user than {other[0]}")
