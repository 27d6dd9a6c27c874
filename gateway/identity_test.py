import jwt
import pytest

from core.errors import PermissionDenied, Unauthenticated
from gateway.auth import ADMIN_HEADER, HEADER, Authorizer
from gateway.identity import HEADER as TOKEN
from gateway.identity import UserTokens

SECRET = "s" * 32


@pytest.fixture
def tokens():
    return UserTokens(SECRET, Authorizer(["pub"], ["adm"]))


def test_a_user_acts_only_as_themselves(tokens):
    headers = [(HEADER, "pub"), (TOKEN, tokens.issue(42))]
    tokens.check(headers, [42])
    tokens.check(headers, [42, 42])
    with pytest.raises(PermissionDenied, match="user_id"):
        tokens.check(headers, [42, 43])  # a batch naming someone else


def test_missing_forged_or_expired_tokens_are_unauthenticated(tokens):
    forged = jwt.encode({"sub": "42", "exp": 2**40}, "another-secret-of-32-bytes-at-least", algorithm="HS256")
    unsigned = jwt.encode({"sub": "42", "exp": 2**40}, None, algorithm="none")
    no_expiry = jwt.encode({"sub": "42"}, SECRET, algorithm="HS256")
    for headers in ([(HEADER, "pub")], [(TOKEN, forged)], [(TOKEN, unsigned)], [(TOKEN, no_expiry)],
                    [(TOKEN, tokens.issue(42, ttl_s=-3600))], [(TOKEN, "garbage")]):
        with pytest.raises(Unauthenticated):
            tokens.check(headers, [42])


def test_debug_and_experiments_need_the_admin_key(tokens):
    with pytest.raises(PermissionDenied, match="admin"):
        tokens.check([(HEADER, "pub"), (TOKEN, tokens.issue(42))], [42], privileged=True)
    tokens.check([(ADMIN_HEADER, "adm")], [7, 8], privileged=True)  # operators: any user, no token


def test_off_without_a_secret_and_short_secrets_are_refused():
    UserTokens("", Authorizer(["pub"])).check([], [1, 2], privileged=True)
    with pytest.raises(ValueError, match="32 bytes"):
        UserTokens("short", Authorizer(["pub"]))
