import pytest

from core.errors import PermissionDenied, Unauthenticated
from gateway.auth import ADMIN_HEADER, HEADER, Authorizer, SampledLog

RECOMMEND = "/recsys.v1.GatewayService/Recommend"
PUBLISH = "/recsys.v1.CatalogService/PublishItem"
REMOVE = "/recsys.v1.CatalogService/RemoveItem"


@pytest.fixture
def auth():
    return Authorizer(["pub-1", "pub-2"], ["adm-1"])


def test_public_methods_need_a_key(auth):
    for headers in ([], [(HEADER, "nope")], [("other", "pub-1")]):
        with pytest.raises(Unauthenticated):
            auth.authorize(RECOMMEND, headers)
    caller = auth.authorize(RECOMMEND, [(HEADER, "pub-2")])
    assert not caller.admin and "pub" not in caller.key_id
    assert auth.authorize(RECOMMEND, {HEADER: b"pub-1"}).key_id != caller.key_id  # mappings, bytes


def test_catalog_writes_need_the_admin_key(auth):
    for method in (PUBLISH, REMOVE):
        with pytest.raises(Unauthenticated):
            auth.authorize(method, [])
        with pytest.raises(PermissionDenied):
            auth.authorize(method, [(HEADER, "pub-1")])
        with pytest.raises(Unauthenticated):  # a wrong admin key is not rescued by a public one
            auth.authorize(method, [(HEADER, "pub-1"), (ADMIN_HEADER, "pub-1")])
        assert auth.authorize(method, [(ADMIN_HEADER, "adm-1")]).admin
    assert auth.authorize(RECOMMEND, [(ADMIN_HEADER, "adm-1")]).admin  # admin may read too


def test_a_method_nobody_listed_is_closed_too(auth):
    with pytest.raises(Unauthenticated):
        auth.authorize("/recsys.v1.SomethingNew/Do", [])


def test_health_and_reflection_are_open(auth):
    for method in ("/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
                   "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                   "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"):
        assert auth.authorize(method, []).key_id == "open"


def test_no_keys_refuses_to_start_unless_auth_is_off():
    with pytest.raises(ValueError, match="GATEWAY_AUTH=off"):
        Authorizer([], ["adm"])
    open_ = Authorizer([], enabled=False)
    assert open_.authorize(PUBLISH, []).admin


def test_the_admin_key_must_differ_from_the_public_ones():
    with pytest.raises(ValueError, match="distinct"):
        Authorizer(["same"], ["same"])


def test_refusals_are_logged_sampled():
    clock = [0.0]
    sampled = SampledLog(every_s=10, clock=lambda: clock[0])
    assert sampled.should_log("m", "UNAUTHENTICATED") == 1
    assert [sampled.should_log("m", "UNAUTHENTICATED") for _ in range(5)] == [0] * 5
    assert sampled.should_log("m", "PERMISSION_DENIED") == 1  # its own sample
    clock[0] = 11
    assert sampled.should_log("m", "UNAUTHENTICATED") == 6  # this line stands for six


def test_a_key_over_its_rate_limit_is_refused_but_probes_are_not():
    from core.errors import Overloaded
    from gateway.limits import KeyedBuckets
    auth = Authorizer(["pub-1", "pub-2"], key_limit=KeyedBuckets(rate=0.001, burst=2))
    auth.authorize(RECOMMEND, [(HEADER, "pub-1")])
    auth.authorize(RECOMMEND, [(HEADER, "pub-1")])
    with pytest.raises(Overloaded, match="per_key"):
        auth.authorize(RECOMMEND, [(HEADER, "pub-1")])
    auth.authorize(RECOMMEND, [(HEADER, "pub-2")])  # another key has its own bucket
    for _ in range(5):
        auth.authorize("/grpc.health.v1.Health/Check", [])
