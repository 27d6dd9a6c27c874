"""Recall's channels against the real stack and Redis: a liked item's neighbours, a followed
author's new upload and a fresh upload all appear; a removed video disappears at once."""
from __future__ import annotations

import time
import uuid

import grpc
import numpy as np
import pytest
from recsys.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    common_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
    recall_pb2,
    recall_pb2_grpc,
)

from core.recall.neighbor_table import NeighborTable
from core.registry.reader import Registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stubs(stack):
    with grpc.insecure_channel(stack.address("gateway")) as g, grpc.insecure_channel(stack.address("recall")) as r:
        yield (gateway_pb2_grpc.GatewayServiceStub(g), catalog_pb2_grpc.CatalogServiceStub(g),
               recall_pb2_grpc.RecallServiceStub(r))


def new_id() -> int:
    return 50_000_000 + uuid.uuid4().int % 10_000_000


def event(user: int, kind: int, item: int = 0, author: int = 0) -> common_pb2.Event:
    return common_pb2.Event(event_id=uuid.uuid4().hex, user_id=user, item_id=item, author_id=author, type=kind)


def explain(gateway, user: int, item: int) -> gateway_pb2.ExplainResponse:
    return gateway.Explain(gateway_pb2.ExplainRequest(user_id=user, item_id=item, count=20), timeout=10)


def until(check, timeout_s: float = 1.0):
    """Poll `check` until it returns truthy or the deadline passes; returns the last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_a_liked_items_neighbours_are_recalled_by_item_cf(stack, stubs, artifacts, world):
    gateway, _, _ = stubs
    mv = Registry(artifacts[1]).open("item_cf")
    table = NeighborTable.load(mv.file("neighbors.npz"))
    liked_row = int(np.argmax(np.diff(table.indptr)))
    items = world.videos["item_id"]
    liked, neighbour = int(items[liked_row]), int(items[table.row(liked_row)[0][0]])
    user = new_id()
    gateway.ReportEvents(gateway_pb2.ReportEventsRequest(events=[event(user, common_pb2.EVENT_TYPE_LIKE, liked)]),
                         timeout=10)
    assert "item_cf" in explain(gateway, user, neighbour).channels


def follow_then_publish(gateway, catalog) -> tuple[int, int, int]:
    """A new user follows a new author, who then publishes a video: (user, author, item)."""
    user, author, item = new_id(), new_id(), new_id()
    gateway.ReportEvents(gateway_pb2.ReportEventsRequest(events=[
        event(user, common_pb2.EVENT_TYPE_FOLLOW, author=author)]), timeout=10)
    catalog.PublishItem(catalog_pb2.PublishItemRequest(item_id=item, author_id=author, category=2,
                                                       duration_s=20.0, region=1), timeout=10)
    return user, author, item


def test_a_followed_authors_upload_is_recalled_within_a_second_and_a_removal_at_once(stubs):
    gateway, catalog, _ = stubs
    user, author, item = follow_then_publish(gateway, catalog)
    published = time.monotonic()
    reply = until(lambda: "follow" in explain(gateway, user, item).channels)
    assert reply, "the followed author's new upload was not recalled"
    assert time.monotonic() - published < 1.5
    catalog.RemoveItem(catalog_pb2.RemoveItemRequest(item_id=item, reason="test"), timeout=10)
    gone = until(lambda: not explain(gateway, user, item).channels)
    assert gone, "a removed video was still recalled"
    with pytest.raises(grpc.RpcError) as err:  # a removed id cannot come back
        catalog.PublishItem(catalog_pb2.PublishItemRequest(item_id=item, author_id=author, category=2,
                                                           duration_s=20.0), timeout=10)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_a_fresh_upload_enters_the_fresh_channel(stubs):
    _, catalog, recall = stubs
    item = new_id()
    catalog.PublishItem(catalog_pb2.PublishItemRequest(item_id=item, author_id=3, category=4,
                                                       duration_s=15.0, region=2), timeout=10)

    def channels_finding(channel: str, quota: int) -> set[str]:
        reply = recall.Retrieve(recall_pb2.RetrieveRequest(
            user=common_pb2.UserContext(user_id=7, region=2), limit=5000,
            quotas=[recall_pb2.ChannelQuota(channel=c, quota=quota if c == channel else 0)
                    for c in ("hot", "two_tower", "item_cf", "follow", "fresh", "region")]), timeout=10)
        ids = list(reply.item_ids)
        if item not in ids:
            return set()
        mask = reply.channel_mask[ids.index(item)]
        return {name for bit, name in enumerate(reply.channels) if mask >> bit & 1}
    # The whole pool of young uploads fits in a large quota, so the new one must be there.
    assert until(lambda: "fresh" in channels_finding("fresh", 5000))


@pytest.mark.parametrize("field,value", [("item_id", 0), ("author_id", -1), ("category", 0),
                                         ("duration_s", 0.0), ("region", 10_000)])
def test_bad_publishes_name_the_field(stubs, field, value):
    _, catalog, _ = stubs
    request = dict(item_id=new_id(), author_id=1, category=1, duration_s=10.0, region=1)
    request[field] = value
    with pytest.raises(grpc.RpcError) as err:
        catalog.PublishItem(catalog_pb2.PublishItemRequest(**request), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(field)


def test_a_blocked_authors_videos_are_not_recalled(stubs):
    gateway, catalog, _ = stubs
    user, author, item = follow_then_publish(gateway, catalog)
    assert until(lambda: "follow" in explain(gateway, user, item).channels)
    gateway.ReportEvents(gateway_pb2.ReportEventsRequest(events=[
        event(user, common_pb2.EVENT_TYPE_BLOCK, author=author)]), timeout=10)
    assert not explain(gateway, user, item).channels  # blocked: dropped (and unfollowed)
