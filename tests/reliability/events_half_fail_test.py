"""An event batch that hits an error inside the Lua script stores nothing and marks nothing,
so the client's retry stores it (before: the marker was set first, the error kept it and
the partial writes, and the retry was counted as a duplicate of an event never stored)."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from core.errors import Unavailable
from core.feedback import EventData, EventKind
from core.items import ItemTable
from core.store.events import EventWriter
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


@pytest.mark.parametrize("broken", ["seen", "item_stats", "session"])
def test_a_script_error_stores_and_marks_nothing_and_the_retry_stores_it(redis_url, keys, broken):
    client = sync_redis.Redis.from_url(redis_url)
    batch = [EventData("first", 5, 2, EventKind.LIKE, 0, 0, 0),
             EventData("second", 6, 3, EventKind.LIKE, 0, 0, 0)]
    wrong = {"seen": keys.seen(6), "item_stats": keys.item_stats(3), "session": keys.session(6)}[broken]
    client.set(wrong, "not the type the script expects")  # the injected fault: a wrong-type key
    with pytest.raises(Unavailable):
        write(redis_url, keys, batch)
    assert not client.exists(keys.event_marker("first"), keys.event_marker("second"))
    assert not client.exists(keys.events_stream(), keys.seq(5), keys.seen(5), keys.item_stats(2))
    client.delete(wrong)  # the fault heals; the client retries the same batch
    out = write(redis_url, keys, batch)
    assert (out.accepted, out.duplicates) == (2, 0)
    assert client.xlen(keys.events_stream()) == 2
    assert client.exists(keys.event_marker("first"), keys.event_marker("second")) == 2


def test_an_id_repeated_inside_one_batch_is_stored_once(redis_url, keys):
    client = sync_redis.Redis.from_url(redis_url)
    out = write(redis_url, keys, [EventData("same", 5, 2, EventKind.LIKE, 0, 0, 0)] * 3)
    assert (out.accepted, out.duplicates) == (1, 2)
    assert client.xlen(keys.events_stream()) == 1
