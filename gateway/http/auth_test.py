import pytest

from core.errors import PermissionDenied, Unauthenticated
from gateway.auth import Authorizer
from gateway.http.auth import HttpAuth


def auth(api_keys, admin_keys, enabled=True) -> HttpAuth:
    return HttpAuth(Authorizer(api_keys, admin_keys, enabled=enabled))


def test_auth_off_is_a_local_demo():
    auth([], [], enabled=False).check({}, admin=True)


def test_public_calls_need_a_public_or_admin_key():
    a = auth(["pub"], ["adm"])
    a.check({"x-api-key": "pub"}, admin=False)
    a.check({"x-admin-key": "adm"}, admin=False)
    for headers in ({}, {"x-api-key": "nope"}, {"x-api-key": "adm"}):
        with pytest.raises(Unauthenticated):
            a.check(headers, admin=False)


def test_admin_calls_refuse_the_public_key():
    a = auth(["pub"], ["adm"])
    a.check({"x-admin-key": "adm"}, admin=True, method="CreateCampaign")
    with pytest.raises(PermissionDenied):
        a.check({"x-api-key": "pub"}, admin=True)
    with pytest.raises(Unauthenticated):
        a.check({"x-admin-key": "pub"}, admin=True)


def test_public_keys_without_admin_keys_close_the_admin_api():
    with pytest.raises(PermissionDenied):
        auth(["pub"], []).check({"x-api-key": "pub"}, admin=True)


def test_no_public_keys_and_auth_on_refuses_to_start():
    with pytest.raises(ValueError):
        auth([], ["adm"])
