"""The event writer against a real Redis: atomic, idempotent, everything it acknowledges stored."""
from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from core.errors import Unavailable
from core.feedback import EventData, EventKind
from core.items import ItemTable
from core.store.events import EventWriter
from core.store.keys import LAYOUT_VERSION, Keys
from core.versioned import Versioned


def items():
    n = 10
    return ItemTable.from_columns(item_id=np.arange(1, n + 1), author_id=np.arange(1, n + 1) % 3 + 1,
                                  category=np.ones(n), duration_s=np.full(n, 10.0),
                                  publish_ms=np.zeros(n), region=np.ones(n), log_pop=np.zeros(n))


def write(url, keys, events):
    async def go():
        client = aioredis.Redis.from_url(url)
        try:
            return await EventWriter(client, keys, Versioned.fixed(items())).write(events)
        finally:
            await client.aclose()
    return asyncio.run(go())


def e(eid, kind, item=1, watch=0, author=0, user=5):
    return EventData(eid, user, item, kind, watch, 0, author)


def test_events_update_state_counters_and_stream(redis_url, keys):
    client = sync_redis.Redis.from_url(redis_url)
    client.hset(keys.profile(5), "region", 2)
    out = write(redis_url, keys, [
        e("a", EventKind.IMPRESSION, item=4),
        e("b", EventKind.VIEW, item=2, watch=8000),   # engaged (>= half of 10 s)
        e("c", EventKind.VIEW, item=3, watch=1000),   # not engaged: seen only
        e("d", EventKind.LIKE, item=7),
        e("f", EventKind.FOLLOW, item=7),              # author from the item table
        e("g", EventKind.LIKE, item=2),                # re-engaging moves it to the front
    ])
    assert (out.accepted, out.duplicates) == (6, 0)
    assert [int(x) for x in client.lrange(keys.seq(5), 0, -1)] == [2, 7]
    assert [int(x) for x in client.lrange(keys.session(5), 0, -1)] == [2, 7]  # this session
    assert 0 < client.ttl(keys.session(5)) <= 30 * 60
    assert {int(x) for x in client.zrange(keys.seen(5), 0, -1)} == {2, 3, 4, 7}
    assert {int(x) for x in client.smembers(keys.follows(5))} == {7 % 3 + 1}
    assert client.ttl(keys.seen(5)) > 0
    assert client.xlen(keys.events_stream()) == 6
    assert client.hgetall(keys.item_stats(2)) == {b"view": b"1", b"like": b"1", b"watch_ms": b"8000"}
    # views (not likes, follows or impressions) with their watch times, newest first
    watched = [x.decode().split(":") for x in client.lrange(keys.watched(5), 0, -1)]
    assert [(int(i), int(w)) for i, w, _ in watched] == [(3, 1000), (2, 8000)]
    assert all(int(t) > 0 for *_, t in watched) and client.ttl(keys.watched(5)) > 0
    hot = {re.search(r"\{hot:(\w+)\}", k.decode()).group(1): k
           for k in client.scan_iter(match=f"{keys.prefix}:{LAYOUT_VERSION}:{{hot:*")}
    assert set(hot) == {"g", "r2"}  # global and the user's region
    for key in hot.values():
        scores = dict(client.zrange(key, 0, -1, withscores=True))
        assert scores[b"2"] == 4.0  # engaged view 1 + like 3
        assert b"3" not in scores and b"4" not in scores  # unengaged view, impression


def test_replayed_ids_are_acknowledged_not_counted(redis_url, keys):
    client = sync_redis.Redis.from_url(redis_url)
    first = write(redis_url, keys, [e("x", EventKind.LIKE, item=1), e("y", EventKind.LIKE, item=2)])
    again = write(redis_url, keys, [e("y", EventKind.LIKE, item=2), e("z", EventKind.LIKE, item=3)])
    assert (first.accepted, again.accepted, again.duplicates) == (2, 1, 1)
    assert client.xlen(keys.events_stream()) == 3
    assert [int(x) for x in client.lrange(keys.seq(5), 0, -1)] == [3, 2, 1]


def test_redis_down_is_unavailable_never_a_false_ack():
    with pytest.raises(Unavailable, match="nothing was stored"):
        write("redis://127.0.0.1:1/0", Keys("nowhere"), [e("q", EventKind.LIKE)])
