"""The whole system as a user meets it: real services on free ports, real Redis."""
from __future__ import annotations

import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from recsys.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc

from dev.demo import category_share, like_category


@pytest.fixture(scope="module")
def gateway(stack):
    with grpc.insecure_channel(stack.address("gateway")) as channel:
        yield gateway_pb2_grpc.GatewayServiceStub(channel)


def recommend(stub, user_id: int, count: int = 20, **kw) -> gateway_pb2.RecommendResponse:
    return stub.Recommend(gateway_pb2.RecommendRequest(user_id=user_id, count=count, **kw),
                          timeout=10)


def invalid(stub_call, request) -> str:
    with pytest.raises(grpc.RpcError) as err:
        stub_call(request, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    return err.value.details()


@pytest.mark.parametrize("service", ["recall", "rank", "rerank", "gateway"])
def test_every_service_answers_health_and_reflection(stack, service):
    expected = {"recall": "recsys.v1.RecallService", "rank": "recsys.v1.RankService",
                "rerank": "recsys.v1.RerankService", "gateway": "recsys.v1.GatewayService"}[service]
    with grpc.insecure_channel(stack.address(service)) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(health_pb2.HealthCheckRequest(service=expected), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
            list_services="")]), timeout=5)
        names = {s.name for a in answers for s in a.list_services_response.service}
    assert expected in names and "grpc.health.v1.Health" in names


def test_recommend_returns_a_full_explained_feed(gateway):
    reply = recommend(gateway, 5, debug=True)
    assert len(reply.items) == 20
    assert not reply.degraded
    ids = [i.item_id for i in reply.items]
    assert len(set(ids)) == len(ids)
    assert {m.name for m in reply.models} == {"ranker", "prerank"}  # ~1000 recalled: pre-rank ran
    for item in reply.items:
        assert item.channels and item.recall_position > 0 and item.rank_position > 0
        assert item.author_id > 0 and item.category > 0
        assert set(item.head_scores) == {"engaged", "like", "complete", "share", "follow"}
    stages = {s.stage for s in reply.latencies}
    assert {"state", "recall", "rank", "rerank", "total"} <= stages


@pytest.mark.parametrize("user_id", [7, 8, 9, 10])
def test_recommend_fills_the_count(gateway, user_id):
    reply = recommend(gateway, user_id, count=20)
    assert len(reply.items) == 20
    assert len({i.item_id for i in reply.items}) == 20


def test_unknown_user_gets_a_cold_start_feed(gateway):
    reply = recommend(gateway, 987_654_321)
    assert len(reply.items) == 20
    assert not reply.degraded
    assert any("hot" in i.channels for i in reply.items)


@pytest.mark.parametrize("request_kw, field", [
    ({"user_id": 0, "count": 10}, "user_id"),
    ({"user_id": -3, "count": 10}, "user_id"),
    ({"user_id": 1, "count": 0}, "count"),
    ({"user_id": 1, "count": 101}, "count"),
    ({"user_id": 1, "count": 10, "context": {"colour": "red"}}, "context.colour"),
    ({"user_id": 1, "count": 10, "context": {"device": "fridge"}}, "context.device"),
    ({"user_id": 1, "count": 10, "context": {"local_hour": "25"}}, "context.local_hour"),
])
def test_bad_recommend_requests_name_the_field(gateway, request_kw, field):
    details = invalid(gateway.Recommend, gateway_pb2.RecommendRequest(**request_kw))
    assert details.startswith(field)


def _event(user, item, etype, **kw) -> common_pb2.Event:
    return common_pb2.Event(event_id=uuid.uuid4().hex, user_id=user, item_id=item, type=etype, **kw)


def test_malformed_event_rejects_the_whole_batch(gateway, stack, redis_url):
    import redis
    good = _event(11, 3, common_pb2.EVENT_TYPE_LIKE)
    bad = _event(11, 4, common_pb2.EVENT_TYPE_UNSPECIFIED)
    details = invalid(gateway.ReportEvents, gateway_pb2.ReportEventsRequest(events=[good, bad]))
    assert details.startswith("events[1].type")
    client = redis.Redis.from_url(redis_url)
    assert not client.exists(f"{stack.prefix}:v2:evt:{good.event_id}")


def test_events_are_idempotent_and_reach_the_stream(gateway, stack, redis_url):
    import redis
    client = redis.Redis.from_url(redis_url)
    stream = f"{stack.prefix}:v2:events"
    before = client.xlen(stream)
    events = [_event(12, 8, common_pb2.EVENT_TYPE_LIKE), _event(12, 9, common_pb2.EVENT_TYPE_SHARE)]
    first = gateway.ReportEvents(gateway_pb2.ReportEventsRequest(events=events), timeout=10)
    again = gateway.ReportEvents(gateway_pb2.ReportEventsRequest(events=events), timeout=10)
    assert (first.accepted, first.duplicates) == (2, 0)
    assert (again.accepted, again.duplicates) == (0, 2)
    assert client.xlen(stream) == before + 2
    seq = [int(x) for x in client.lrange(f"{stack.prefix}:v2:{{u:12}}:seq", 0, 1)]
    assert seq == [9, 8]


def test_reported_views_leave_the_next_feed(gateway):
    first = recommend(gateway, 21)
    shown = [i.item_id for i in first.items[:5]]
    gateway.ReportEvents(gateway_pb2.ReportEventsRequest(events=[
        _event(21, item, common_pb2.EVENT_TYPE_IMPRESSION) for item in shown]), timeout=10)
    after = {i.item_id for i in recommend(gateway, 21).items}
    assert not after & set(shown)


def test_likes_on_a_category_raise_its_share_of_the_feed(gateway, world):
    rises = 0
    users = (31, 32, 33, 34, 35)
    for uid in users:
        before = recommend(gateway, uid)
        category, _ = like_category(gateway, world, uid, before)
        after = recommend(gateway, uid)
        rises += category_share(after, category) > category_share(before, category)
    assert rises == len(users)
