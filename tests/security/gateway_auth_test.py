"""From outside, as a caller on the network: with API keys set, nothing but health and
reflection answers without credentials; catalog writes and the campaign admin API need the admin key; far-future
publishes, publish floods and one user's flood are refused; the gateway will not start open
unless told it is a demo."""
from __future__ import annotations

import time
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from recsys.v1 import campaign_pb2, catalog_pb2, common_pb2, gateway_pb2

from dev.stack import Stack, bootstrap

PUBLIC, ADMIN = "public-key-123", "admin-key-456"
PUBLISH_BURST = 3


@pytest.fixture(scope="module")
def secured(artifacts, redis_url, tmp_path_factory):
    prefix = f"test-secured-{uuid.uuid4().hex[:6]}"
    bootstrap(artifacts[0], artifacts[1], redis_url, prefix, progress=False, say=lambda *_: None)
    s = Stack(artifacts[1], redis_url, prefix, tmp_path_factory.mktemp("logs"), env={
        "GATEWAY_API_KEYS": PUBLIC, "GATEWAY_ADMIN_KEYS": ADMIN,
        "GATEWAY_USER_RPS": "0.01", "GATEWAY_USER_BURST": "3",
        "GATEWAY_PUBLISH_RPS": "0.01", "GATEWAY_PUBLISH_BURST": str(PUBLISH_BURST)})
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def channel(secured):
    with grpc.insecure_channel(secured.address("gateway")) as ch:
        yield ch


def methods_of(module, service: str):
    desc = module.DESCRIPTOR.services_by_name[service]
    from google.protobuf import message_factory
    return [(f"/{desc.full_name}/{m.name}", message_factory.GetMessageClass(m.input_type),
             message_factory.GetMessageClass(m.output_type)) for m in desc.methods]


ALL_METHODS = (methods_of(gateway_pb2, "GatewayService") + methods_of(catalog_pb2, "CatalogService")
               + methods_of(campaign_pb2, "CampaignService"))


def call(channel, method, request, metadata=None):
    path, req_cls, resp_cls = next(m for m in ALL_METHODS if m[0].endswith(method))
    return channel.unary_unary(path, request_serializer=req_cls.SerializeToString,
                               response_deserializer=resp_cls.FromString)(request, timeout=10, metadata=metadata)


def code_of(fn, *args, **kw) -> grpc.StatusCode:
    try:
        fn(*args, **kw)
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def new_id() -> int:
    return 60_000_000 + uuid.uuid4().int % 10_000_000


def test_no_method_answers_without_a_key(channel, secured):
    assert {m[0].rsplit("/", 1)[1] for m in ALL_METHODS} >= {"Recommend", "ReportEvents", "Explain",
                                                              "PublishItem", "RemoveItem", "CreateCampaign",
                                                              "UpdateCampaign", "EndCampaign", "ListCampaigns"}
    for path, req_cls, resp_cls in ALL_METHODS:
        stub = channel.unary_unary(path, request_serializer=req_cls.SerializeToString,
                                   response_deserializer=resp_cls.FromString)
        for metadata in (None, [("x-api-key", "wrong")], [("x-admin-key", "wrong")]):
            assert code_of(stub, req_cls(), timeout=10, metadata=metadata) == \
                grpc.StatusCode.UNAUTHENTICATED, (path, metadata)
    assert "key-123" not in (secured.log_dir / "gateway.log").read_text()


def test_health_and_reflection_stay_open(channel):
    assert health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
        health_pb2.HealthCheckResponse.SERVING
    replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    names = {s.name for r in replies for s in r.list_services_response.service}
    assert {"recsys.v1.CatalogService", "recsys.v1.CampaignService"} <= names


def test_catalog_writes_need_the_admin_key(channel):
    item = new_id()
    request = catalog_pb2.PublishItemRequest(item_id=item, author_id=5, category=2, duration_s=10.0)
    public = [("x-api-key", PUBLIC)]
    assert code_of(lambda: call(channel, "PublishItem", request, public)) == grpc.StatusCode.PERMISSION_DENIED
    assert code_of(lambda: call(channel, "RemoveItem", catalog_pb2.RemoveItemRequest(item_id=1), public)) == \
        grpc.StatusCode.PERMISSION_DENIED
    assert call(channel, "PublishItem", request, [("x-admin-key", ADMIN)]).item_id == item
    assert call(channel, "Recommend", gateway_pb2.RecommendRequest(user_id=9, count=3), public).items


def test_campaigns_over_grpc_need_the_admin_key(channel):
    cid = f"grpc-{uuid.uuid4().hex[:8]}"
    end_ms = int(time.time() * 1000) + 600_000
    created = campaign_pb2.Campaign(campaign_id=cid, item_ids=[3, 4], kind=campaign_pb2.Campaign.KIND_SLOT,
                                    end_ms=end_ms, impression_cap=5)
    ended = campaign_pb2.EndCampaignRequest(campaign_id=cid)
    for metadata, code in (([("x-api-key", PUBLIC)], grpc.StatusCode.PERMISSION_DENIED),
                           (None, grpc.StatusCode.UNAUTHENTICATED)):
        for method, request in (("CreateCampaign", created), ("UpdateCampaign", created),
                                ("EndCampaign", ended), ("ListCampaigns", campaign_pb2.ListCampaignsRequest())):
            assert code_of(call, channel, method, request, metadata) == code, (method, metadata)

    admin = [("x-admin-key", ADMIN)]
    reply = call(channel, "CreateCampaign", created, admin)
    assert reply.campaign_id == cid and reply.active and list(reply.item_ids) == [3, 4]
    assert code_of(lambda: call(channel, "CreateCampaign", created, admin)) == grpc.StatusCode.ALREADY_EXISTS
    bad = campaign_pb2.Campaign(campaign_id=cid, item_ids=[3], kind=campaign_pb2.Campaign.KIND_BOOST, boost=5.0,
                                end_ms=end_ms)
    with pytest.raises(grpc.RpcError) as err:
        call(channel, "UpdateCampaign", bad, admin)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith("boost")
    updated = call(channel, "UpdateCampaign", campaign_pb2.Campaign(
        campaign_id=cid, item_ids=[3], kind=campaign_pb2.Campaign.KIND_BOOST, boost=1.5, end_ms=end_ms), admin)
    assert updated.kind == campaign_pb2.Campaign.KIND_BOOST and list(updated.item_ids) == [3]
    assert not call(channel, "EndCampaign", ended, admin).active
    listed = {c.campaign_id: c for c in call(channel, "ListCampaigns", campaign_pb2.ListCampaignsRequest(),
                                             admin).campaigns}
    assert cid in listed and not listed[cid].active
    missing = campaign_pb2.EndCampaignRequest(campaign_id=f"nope-{cid}")
    assert code_of(lambda: call(channel, "EndCampaign", missing, admin)) == grpc.StatusCode.NOT_FOUND


def test_a_far_future_or_ancient_publish_is_refused(channel):
    admin = [("x-admin-key", ADMIN)]
    year_2100 = 4_102_444_800_000
    for publish_ms in (year_2100, 1_000):
        with pytest.raises(grpc.RpcError) as err:
            call(channel, "PublishItem", catalog_pb2.PublishItemRequest(
                item_id=new_id(), author_id=5, category=2, duration_s=10.0, publish_ms=publish_ms), admin)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details().startswith("publish_ms")


def test_publishes_are_rate_limited(channel):
    admin = [("x-admin-key", ADMIN)]
    codes = [code_of(lambda: call(channel, "PublishItem", catalog_pb2.PublishItemRequest(
        item_id=new_id(), author_id=5, category=2, duration_s=10.0), admin)) for _ in range(PUBLISH_BURST + 1)]
    assert codes[-1] == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_one_user_flooding_is_limited_and_others_are_not(channel):
    public = [("x-api-key", PUBLIC)]
    flood = [code_of(lambda: call(channel, "Recommend", gateway_pb2.RecommendRequest(user_id=777, count=3), public))
             for _ in range(5)]
    assert flood[:3] == [grpc.StatusCode.OK] * 3 and flood[3:] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
    event = common_pb2.Event(event_id=uuid.uuid4().hex, user_id=777, item_id=1, type=common_pb2.EVENT_TYPE_LIKE)
    assert code_of(lambda: call(channel, "ReportEvents", gateway_pb2.ReportEventsRequest(events=[event]),
                                public)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert call(channel, "Recommend", gateway_pb2.RecommendRequest(user_id=778, count=3), public).items


def test_the_gateway_refuses_to_start_without_keys_unless_auth_is_off(artifacts, redis_url, tmp_path):
    s = Stack(artifacts[1], redis_url, "test-nokeys", tmp_path, env={"GATEWAY_AUTH": "on"})
    s.start_one("gateway")
    proc = s.procs["gateway"]
    try:
        assert proc.wait(60) == 2
    finally:
        s.stop()
    log = (tmp_path / "gateway.log").read_text()
    assert "GATEWAY_AUTH=off" in log and "refusing to start" in log


def test_a_local_stack_says_explicitly_that_it_is_open(artifacts, redis_url, tmp_path):
    assert Stack(artifacts[1], redis_url, "p", tmp_path)._env("gateway")["GATEWAY_AUTH"] == "off"
    keyed = Stack(artifacts[1], redis_url, "p", tmp_path, env={"GATEWAY_API_KEYS": "k"})
    assert keyed._env("gateway")["GATEWAY_AUTH"] == "on"
