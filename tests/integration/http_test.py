"""The HTTP/JSON API against the real stack: the same answers, validation and errors as gRPC,
display info on every served item (an item without any is served all the same, and counted),
covers, the OpenAPI document, and credentials."""
from __future__ import annotations

import urllib.request
import uuid

import grpc
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from recsys.v1 import catalog_pb2, catalog_pb2_grpc, gateway_pb2, gateway_pb2_grpc

from core.store.keys import Keys
from dev.redis_server import free_port
from dev.stack import Stack
from tests.http_helpers import call, get, post
from tests.integration.campaigns_test import campaign, unseen_item, until, users_by_region

pytestmark = pytest.mark.integration
PUBLIC, ADMIN = "public-key-1", "admin-key-1"


@pytest.fixture(scope="module")
def keyed_gateway(stack, artifacts, tmp_path_factory):
    """A second gateway with API and admin keys, in front of the session stack's stages."""
    ports = {n: stack.ports[n] for n in ("recall", "rank", "rerank")}
    g = Stack(artifacts[1], stack.redis_url, stack.prefix, tmp_path_factory.mktemp("keyed"),
              ports=ports, env={"GATEWAY_API_KEYS": PUBLIC, "GATEWAY_ADMIN_KEYS": ADMIN,
                                "GATEWAY_METRICS_PORT": str(free_port()),
                                # every page reads Redis: a test below deletes an item's display
                                # info and looks at once (the cache's own tests: pipeline_test)
                                "GATEWAY_ITEM_META_TTL_S": "0"})
    g.start_one("gateway")
    try:
        g.wait_one("gateway")
        yield g
    finally:
        g.stop()


def test_recommend_over_http_serves_items_with_display_info(stack):
    status, body = post(f"{stack.http_url}/v1/recommend", {"user_id": 42, "count": 10})
    assert status == 200, body
    assert len(body["items"]) == 10 and body["request_id"]
    for item in body["items"]:
        assert item["title"] and item["cover_url"] and item["author_name"], item
        assert item["duration_s"] > 0 and item["tags"]
        assert item["item_id"].isdigit() and item["author_id"].isdigit()  # int64 as JSON strings
    status, svg = get(stack.http_url + body["items"][0]["cover_url"])
    assert status == 200 and svg.startswith(b"<svg") and svg == get(stack.http_url + body["items"][0]["cover_url"])[1]


def test_grpc_serves_the_same_display_info(stack):
    with grpc.insecure_channel(stack.address("gateway")) as ch:
        reply = gateway_pb2_grpc.GatewayServiceStub(ch).Recommend(
            gateway_pb2.RecommendRequest(user_id=42, count=5), timeout=10)
    assert all(i.title and i.cover_url.endswith(".svg") for i in reply.items)


@pytest.mark.parametrize("body, field", [
    ({"user_id": 42, "count": 0}, "count"),
    ({"user_id": 0, "count": 5}, "user_id"),
    ({"user_id": 42, "count": 5, "context": {"colour": "red"}}, "context.colour"),
    ({"user_id": 42, "count": 5, "no_such_field": 1}, "body"),
    (b"{not json", "body"),
])
def test_bad_input_is_400_invalid_argument_naming_the_field(stack, body, field):
    status, reply = post(f"{stack.http_url}/v1/recommend", body)
    assert status == 400
    assert reply["error"]["status"] == "INVALID_ARGUMENT" and reply["error"]["message"].startswith(field)


def test_a_bad_deadline_header_is_refused(stack):
    status, reply = post(f"{stack.http_url}/v1/recommend", {"user_id": 1, "count": 3},
                         headers={"x-deadline-ms": "soon"})
    assert status == 400 and reply["error"]["message"].startswith("x-deadline-ms")


def test_events_then_explain_over_http(stack):
    _, feed = post(f"{stack.http_url}/v1/recommend", {"user_id": 77, "count": 5})
    item = feed["items"][0]["item_id"]
    event = {"event_id": uuid.uuid4().hex, "user_id": 77, "item_id": item, "type": "EVENT_TYPE_LIKE"}
    status, reply = post(f"{stack.http_url}/v1/events", {"events": [event]})
    assert status == 200 and reply == {"accepted": 1, "duplicates": 0}
    assert post(f"{stack.http_url}/v1/events", {"events": [event]})[1] == {"accepted": 0, "duplicates": 1}
    status, why = post(f"{stack.http_url}/v1/explain", {"user_id": 77, "item_id": item})
    assert status == 200 and why["item_id"] == item and why["verdict"]
    status, bad = post(f"{stack.http_url}/v1/events", {"events": [{**event, "type": "EVENT_TYPE_UNSPECIFIED"}]})
    assert status == 400 and bad["error"]["message"].startswith("events[0].type")


def test_openapi_document_lists_every_route(stack):
    status, doc = get(f"{stack.http_url}/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert {"/v1/recommend", "/v1/events", "/v1/explain", "/v1/admin/campaigns"} <= set(doc["paths"])
    item = doc["components"]["schemas"]["recsys.v1.RecommendedItem"]["properties"]
    assert {"title", "cover_url", "author_name", "duration_s", "tags"} <= set(item)


def test_console_status_and_unknown_routes(stack):
    status, page = get(f"{stack.http_url}/")
    assert status == 200 and b"<html" in page
    status, info = get(f"{stack.http_url}/v1/status")
    assert status == 200 and {m["name"] for m in info["models"]} >= {"ranker", "two_tower"}
    assert all(m["live"] for m in info["models"])
    assert get(f"{stack.http_url}/reports/0/../../etc.png")[0] == 404
    assert get(f"{stack.http_url}/reports/9/x.png")[0] == 404
    assert get(f"{stack.http_url}/v1/covers/abc.svg")[0] == 400
    assert call("GET", f"{stack.http_url}/v1/recommend")[0] == 405


def test_published_video_carries_its_display_info(stack):
    item = 60_000_000 + uuid.uuid4().int % 1_000_000
    with grpc.insecure_channel(stack.address("gateway")) as ch:
        catalog_pb2_grpc.CatalogServiceStub(ch).PublishItem(catalog_pb2.PublishItemRequest(
            item_id=item, author_id=5, category=3, duration_s=12.5, region=1, title="Fresh ramen",
            author_name="@new.cook", tags=["cooking", "ramen"]), timeout=10)
        with pytest.raises(grpc.RpcError) as err:
            catalog_pb2_grpc.CatalogServiceStub(ch).PublishItem(catalog_pb2.PublishItemRequest(
                item_id=item + 1, author_id=5, category=3, duration_s=12.5, tags=["a,b"]), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "tags[0]" in err.value.details()
    import redis

    from core.store.item_meta import FIELDS
    from core.store.keys import Keys
    client = redis.Redis.from_url(stack.redis_url)
    stored = client.hmget(Keys(stack.prefix).item_meta(item), FIELDS)
    assert stored == [b"Fresh ramen", f"/v1/covers/{item}.svg".encode(), b"@new.cook", b"12.5", b"cooking,ramen"]


def test_keys_are_required_and_admin_calls_need_the_admin_key(keyed_gateway):
    url = keyed_gateway.http_url
    body = {"user_id": 42, "count": 3}
    assert post(f"{url}/v1/recommend", body)[1]["error"]["status"] == "UNAUTHENTICATED"
    assert post(f"{url}/v1/recommend", body, {"x-api-key": "wrong"})[0] == 401
    assert post(f"{url}/v1/recommend", body, {"x-api-key": PUBLIC})[0] == 200
    assert get(f"{url}/v1/status")[0] == 401
    assert get(f"{url}/v1/admin/campaigns", {"x-api-key": PUBLIC})[0] == 403
    assert get(f"{url}/v1/admin/campaigns")[0] == 401
    assert get(f"{url}/v1/admin/campaigns", {"x-admin-key": ADMIN})[0] == 200


def meta_missing_total(gateway: Stack) -> float:
    port = gateway.env["GATEWAY_METRICS_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "recsys_item_meta_missing_total")


def test_an_item_without_display_info_is_served_and_counted_on_both_transports(keyed_gateway, stack, world):
    """A video whose metadata hash is gone, put in two feeds by a slot campaign (the one way to
    know it is served): each transport serves it, with empty display fields, and the gateway
    counts every item it served without display info."""
    region, users, _ = users_by_region(world)
    item = unseen_item(stack, world, users[:2], len(world.videos["exposure"]) // 5)
    client, meta_key = redis.Redis.from_url(stack.redis_url), Keys(stack.prefix).item_meta(item)
    saved = client.hgetall(meta_key)
    cid = f"nometa-{uuid.uuid4().hex[:8]}"
    admin, public = {"x-admin-key": ADMIN}, {"x-api-key": PUBLIC}
    url = keyed_gateway.http_url
    before = meta_missing_total(keyed_gateway)
    try:
        client.delete(meta_key)
        assert post(f"{url}/v1/admin/campaigns", campaign(cid, [item], region), admin)[0] == 200
        replies = []  # every gRPC feed asked for: each one's items count
        with grpc.insecure_channel(keyed_gateway.address("gateway")) as ch:
            def grpc_feed():
                replies.append(gateway_pb2_grpc.GatewayServiceStub(ch).Recommend(
                    gateway_pb2.RecommendRequest(user_id=users[0], count=20), timeout=10,
                    metadata=[("x-api-key", PUBLIC)]))
                return [i for i in replies[-1].items if i.item_id == item]
            grpc_items = until(grpc_feed)
        status, body = post(f"{url}/v1/recommend", {"user_id": users[1], "count": 20}, public)
        assert status == 200, body
    finally:
        call("DELETE", f"{url}/v1/admin/campaigns/{cid}", headers=admin)
        if saved:
            client.hset(meta_key, mapping=saved)
    assert grpc_items and grpc_items[0].title == "" and grpc_items[0].cover_url == ""
    assert grpc_items[0].rerank_reason.endswith(f"campaign:{cid}")
    served = {int(i["item_id"]): i for i in body["items"]}
    assert item in served and served[item]["title"] == "" and served[item]["cover_url"] == ""
    assert served[item]["tags"] == [] and served[item]["duration_s"] == 0
    # counted, on both edges: every item served without display info (a stored one always has a cover)
    without = sum(1 for r in replies for i in r.items if not i.cover_url) + \
        sum(1 for i in body["items"] if not i["cover_url"])
    assert without >= 2 and meta_missing_total(keyed_gateway) - before == without
