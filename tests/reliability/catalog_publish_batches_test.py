"""A burst of publishes costs each recall replica one rebuild of its live catalog, not one
per publish (before: every publish the follower read rebuilt the arrays and the two-tower
channel's online vectors); a takedown is not held back for a batch."""
from __future__ import annotations

import asyncio

import numpy as np
import redis.asyncio as aioredis

from core.items import ItemTable
from core.recall.live_catalog import LiveCatalog
from core.store.catalog_log import CatalogFollower, CatalogItem, CatalogWriter

BASE_IDS = [1, 2, 3]


def catalog() -> LiveCatalog:
    n = len(BASE_IDS)
    return LiveCatalog(ItemTable.from_columns(
        item_id=np.array(BASE_IDS), author_id=np.ones(n), category=np.ones(n), duration_s=np.full(n, 10.0),
        publish_ms=np.zeros(n), region=np.ones(n), log_pop=np.zeros(n)))


def video(item_id: int) -> CatalogItem:
    return CatalogItem(item_id, author_id=7, category=2, duration_s=12.0, publish_ms=1_000, region=1)


def run(redis_url, keys, body):
    async def go():
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await body(client, CatalogWriter(client, keys))
        finally:
            await client.aclose()
    return asyncio.run(go())


def test_a_burst_arriving_while_the_first_publish_is_read_is_one_rebuild(redis_url, keys):
    n = 50
    cat = catalog()
    heard: list[list[CatalogItem]] = []
    cat.on_publish(heard.append)

    async def body(client, writer):
        async def rest_of_the_burst(_window_s: float) -> None:  # arrives during the batch window
            for i in range(101, 100 + n):
                await writer.publish(video(i))
        follower = CatalogFollower(client, keys, cat, block_ms=1000, sleep=rest_of_the_burst)
        await follower.load()
        before = cat.rebuilds
        await writer.publish(video(100))
        applied = await follower.poll()
        return applied, cat.rebuilds - before, follower.batches

    applied, rebuilds, batches = run(redis_url, keys, body)
    assert (applied, rebuilds, batches) == (n, 1, 1)
    assert [len(b) for b in heard] == [n]  # the two-tower channel hears one batch too
    assert cat.available(np.arange(100, 100 + n)).all()


def test_a_backlog_is_drained_in_bounded_batches_and_removals_win(redis_url, keys):
    cat = catalog()

    async def body(client, writer):
        follower = CatalogFollower(client, keys, cat, block_ms=1000, batch_window_s=0,
                                   read_count=10, max_batch=20)
        await follower.load()
        before = cat.rebuilds
        for i in range(200, 235):
            await writer.publish(video(i))
        await writer.remove(234)  # published and taken down within one batch
        return [await follower.poll(), await follower.poll()], cat.rebuilds - before

    polls, rebuilds = run(redis_url, keys, body)
    assert polls == [20, 16] and rebuilds == 2  # 36 entries read 10 at a time, applied 20 at most
    assert cat.available(np.array([200, 233, 234])).tolist() == [True, True, False]


def test_a_takedown_alone_is_applied_without_waiting_and_rebuilds_nothing(redis_url, keys):
    cat = catalog()
    waited: list[float] = []

    async def body(client, writer):
        async def sleep(seconds: float) -> None:
            waited.append(seconds)
        follower = CatalogFollower(client, keys, cat, block_ms=1000, sleep=sleep)
        await follower.load()
        before = cat.rebuilds
        await writer.remove(2)
        return await follower.poll(), cat.rebuilds - before

    assert run(redis_url, keys, body) == (1, 0)
    assert waited == []
    assert cat.available(np.array([1, 2])).tolist() == [True, False]
