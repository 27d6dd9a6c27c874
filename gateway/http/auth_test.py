import pytest

from core.errors import PermissionDenied, Unauthenticated
from gateway.http.auth import HttpAuth


def test_no_keys_at_all_is_a_local_demo():
    HttpAuth([], []).check({}, admin=True)


def test_public_calls_need_a_public_or_admin_key():
    auth = HttpAuth(["pub"], ["adm"])
    auth.check({"x-api-key": "pub"}, admin=False)
    auth.check({"x-admin-key": "adm"}, admin=False)
    for headers in ({}, {"x-api-key": "nope"}, {"x-api-key": "adm"}):
        with pytest.raises(Unauthenticated):
            auth.check(headers, admin=False)


def test_admin_calls_refuse_the_public_key():
    auth = HttpAuth(["pub"], ["adm"])
    auth.check({"x-admin-key": "adm"}, admin=True)
    with pytest.raises(PermissionDenied):
        auth.check({"x-api-key": "pub"}, admin=True)
    with pytest.raises(Unauthenticated):
        auth.check({"x-admin-key": "pub"}, admin=True)


def test_public_keys_without_admin_keys_close_the_admin_api():
    with pytest.raises(PermissionDenied):
        HttpAuth(["pub"], []).check({"x-api-key": "pub"}, admin=True)


def test_admin_keys_alone_close_the_public_api_too():
    with pytest.raises(Unauthenticated):
        HttpAuth([], ["adm"]).check({}, admin=False)
