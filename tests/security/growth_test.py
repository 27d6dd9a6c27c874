"""Nothing a client sends grows Redis without a bound: events for unknown items are refused
(when the item table is known), the seen set keeps the most recent SEEN_CAP items, item
statistics expire."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from core.errors import InvalidArgument
from core.feedback import EventData, EventKind
from core.items import ItemTable
from core.store import keys as K
from core.store.events import EventWriter
from core.versioned import Versioned

N_ITEMS = 3000


def items():
    n = N_ITEMS
    return ItemTable.from_columns(item_id=np.arange(1, n + 1), author_id=np.arange(1, n + 1) % 3 + 1,
                                  category=np.ones(n), duration_s=np.full(n, 10.0),
                                  publish_ms=np.zeros(n), region=np.ones(n), log_pop=np.zeros(n))


def write(url, keys, events, table=True):
    async def go():
        client = aioredis.Redis.from_url(url)
        try:
            versioned = Versioned.fixed(items()) if table else Versioned.fixed(None)
            return await EventWriter(client, keys, versioned).write(events)
        finally:
            await client.aclose()
    return asyncio.run(go())


def test_events_for_unknown_items_are_refused_naming_the_event(redis_url, keys):
    client = sync_redis.Redis.from_url(redis_url)
    events = [EventData("ok", 5, 2, EventKind.VIEW, 0, 0, 0), EventData("bad", 5, 10**9, EventKind.VIEW, 0, 0, 0)]
    with pytest.raises(InvalidArgument) as err:
        write(redis_url, keys, events)
    assert err.value.field == "events[1].item_id"
    assert not client.exists(keys.item_stats(10**9), keys.event_marker("ok"))


def test_items_published_online_are_known(redis_url, keys):
    client = sync_redis.Redis.from_url(redis_url)
    client.hset(keys.catalog_items(), "900001", "1,1,10.0,0,1")
    out = write(redis_url, keys, [EventData("pub", 5, 900001, EventKind.LIKE, 0, 0, 0)])
    assert out.accepted == 1


def test_the_seen_set_keeps_the_most_recent_and_stats_expire(redis_url, keys):
    client = sync_redis.Redis.from_url(redis_url)
    n = K.SEEN_CAP + 200
    for start in range(0, n, 500):
        write(redis_url, keys, [EventData(f"e{i}", 5, i + 1, EventKind.IMPRESSION, 0, 1_000 + i, 0)
                                for i in range(start, min(n, start + 500))])
    assert client.zcard(keys.seen(5)) == K.SEEN_CAP
    kept = {int(x) for x in client.zrange(keys.seen(5), 0, -1)}
    assert kept == set(range(n - K.SEEN_CAP + 1, n + 1))  # the oldest left first
    assert 0 < client.ttl(keys.item_stats(1)) <= K.ITEM_STATS_TTL_S
