"""Bring your own data: a small log in the generic schema (string ids) imported, trained,
loaded and served by the real stack, answering in the log's own ids (dev.stack.bootstrap_data,
what `make run DATA=...` runs)."""
from __future__ import annotations

import time
import uuid

import grpc
import pandas as pd
import pytest
import redis
from recsys.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc

from core.ids import new_user_id
from core.registry.reader import Registry
from core.store.keys import Keys
from dev.redis_server import drop_prefix
from dev.stack import Stack, bootstrap_data
from tests.http_helpers import post
from training.importers import fixture

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(redis_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("byod")
    data = fixture.write(root / "log", n_users=60, n_items=80, views_per_user=40)
    prefix = f"test-byod-{uuid.uuid4().hex[:8]}"
    quiet = dict(progress=False, say=lambda *_: None, epochs=1)
    prepared = bootstrap_data(data, root / "datasets", redis_url, prefix, **quiet)
    # Generous stage budgets: this checks the data path, not latency, on a machine it shares.
    budgets = {f"GATEWAY_{s}_BUDGET_MS": "2000" for s in ("STATE", "RECALL", "RANK", "RERANK", "DISPLAY")}
    stack = Stack(prepared.registry, redis_url, prefix, root / "logs",
                  env={"GATEWAY_ID_MAP": str(prepared.ids_path), "GATEWAY_TOTAL_BUDGET_MS": "8000", **budgets})
    stack.start()
    try:
        yield data, prepared, stack
    finally:
        stack.stop()
        drop_prefix(redis_url, prefix)


def _gateway(stack):
    return grpc.insecure_channel(stack.address("gateway"))


def _recommend(stub, request, tries: int = 20):
    """The full pipeline's answer: the gateway's first calls may meet stages it is still
    connecting to (and answer degraded, as it should)."""
    for _ in range(tries):
        reply = stub.Recommend(request, timeout=10)
        if not reply.degraded:
            return reply
        time.sleep(0.5)
    return reply


def test_a_user_of_the_log_gets_a_feed_of_the_logs_items_with_their_display_info(served):
    data, prepared, stack = served
    items = pd.read_csv(data / "items.csv", dtype=str).set_index("item_id")
    user = fixture.user_ids(60)[3]
    with _gateway(stack) as ch:
        reply = _recommend(gateway_pb2_grpc.GatewayServiceStub(ch),
                           gateway_pb2.RecommendRequest(external_user_id=user, count=10))
    assert len(reply.items) == 10 and not reply.degraded
    for item in reply.items:
        source = item.external_item_id
        assert source in items.index  # the log's own id, string or integer form
        assert prepared.ids().item_id(source) == item.item_id
        assert item.title == items.loc[source, "title"] and item.author_name == items.loc[source, "author_name"]
        assert list(item.tags) == items.loc[source, "tags"].split("|")
        assert item.duration_s == pytest.approx(float(items.loc[source, "duration_s"]))
    # the log's users have history: what they saw is filtered out
    seen = pd.read_csv(data / "interactions.csv", dtype=str)
    seen = set(seen.loc[seen["user_id"] == user, "item_id"])
    assert not seen & {i.external_item_id for i in reply.items}


def test_the_http_api_takes_and_answers_source_ids(served):
    _, _, stack = served
    status, body = post(f"{stack.http_url}/v1/recommend", {"external_user_id": "someone-new", "count": 5})
    assert status == 200, body  # a user the log never saw: a cold-start feed
    assert len(body["items"]) == 5 and all(i["external_item_id"] for i in body["items"])
    status, body = post(f"{stack.http_url}/v1/recommend", {"external_user_id": fixture.user_ids(60)[0],
                                                            "user_id": 3, "count": 5})
    assert status == 400 and "external_user_id" in str(body)


def test_explain_and_events_in_source_ids_go_through_the_same_writer(served, redis_url):
    _, prepared, stack = served
    user = fixture.user_ids(60)[5]
    with _gateway(stack) as ch:
        stub = gateway_pb2_grpc.GatewayServiceStub(ch)
        feed = _recommend(stub, gateway_pb2.RecommendRequest(external_user_id=user, count=5))
        shown = feed.items[0].external_item_id
        why = stub.Explain(gateway_pb2.ExplainRequest(external_user_id=user, external_item_id=shown), timeout=10)
        assert why.verdict == "shown" and why.external_item_id == shown
        ack = stub.ReportEvents(gateway_pb2.ReportEventsRequest(events=[
            common_pb2.Event(event_id=uuid.uuid4().hex, external_user_id=user, external_item_id=shown,
                             type=common_pb2.EVENT_TYPE_LIKE),
            common_pb2.Event(event_id=uuid.uuid4().hex, external_user_id="someone-new", external_item_id=shown,
                             type=common_pb2.EVENT_TYPE_LIKE)]), timeout=10)
        assert ack.accepted == 2
        with pytest.raises(grpc.RpcError) as err:
            stub.Explain(gateway_pb2.ExplainRequest(external_user_id=user, external_item_id="no-such-video"),
                         timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "external_item_id" in err.value.details()
    client, keys = redis.Redis.from_url(redis_url), Keys(stack.prefix)
    dense_user, dense_item = prepared.ids().user_id(user), prepared.ids().item_id(shown)
    assert int(client.lindex(keys.seq(dense_user), 0)) == dense_item  # the event writer's sequence
    assert int(client.lindex(keys.seq(new_user_id("someone-new")), 0)) == dense_item
    client.close()


def test_bootstrapping_the_same_log_again_reuses_everything(served, redis_url, tmp_path):
    data, prepared, stack = served
    versions = Registry(prepared.registry).aliases("ranker")["live"]
    said = []
    again = bootstrap_data(data, prepared.folder.parent, redis_url, stack.prefix, progress=False, say=said.append,
                           epochs=1)
    assert again.folder == prepared.folder and Registry(prepared.registry).aliases("ranker")["live"] == versions
    assert said == [f"data: {data.resolve()} already imported -> {prepared.folder}"]  # no training, no reload


def test_a_gateway_with_an_unreadable_id_map_refuses_to_start(served, tmp_path):
    _, prepared, stack = served
    broken = tmp_path / "ids.npz"
    broken.write_bytes(b"not an id map")
    g = Stack(prepared.registry, stack.redis_url, stack.prefix, tmp_path / "logs", env={"GATEWAY_ID_MAP": str(broken)})
    g.start_one("gateway")
    try:
        with pytest.raises(RuntimeError, match="exited with 2"):
            g.wait_one("gateway", timeout_s=60)
        assert "GATEWAY_ID_MAP unreadable" in (tmp_path / "logs" / "gateway.log").read_text()
    finally:
        g.stop()
