"""The impression log against a real Redis: written in the background, failures counted, never raised."""
from __future__ import annotations

import asyncio

import redis as sync_redis
import redis.asyncio as aioredis

from core import metrics
from core.store.impressions import Impression, ImpressionLog, decode


def imp(i: int) -> Impression:
    return Impression(request_id=f"r{i}", user_id=3, ts_ms=1000 + i, item_ids=[1, 2, 3], models={"ranker": "v0001"})


def counted(outcome: str) -> float:
    return metrics.IMPRESSIONS.labels(outcome)._value.get()


def test_recorded_impressions_reach_the_stream(redis_url, keys):
    async def go():
        client = aioredis.Redis.from_url(redis_url)
        log = ImpressionLog(client, keys)
        for i in range(5):
            log.record(imp(i))
        await log.drain()
        await client.aclose()
    asyncio.run(go())
    entries = sync_redis.Redis.from_url(redis_url).xrange(keys.impressions_stream())
    # concurrent background writes: every one arrives, not necessarily in call order
    assert sorted((decode(f) for _, f in entries), key=lambda i: i.ts_ms) == [imp(i) for i in range(5)]


def test_redis_down_is_counted_never_raised(keys):
    before = counted("failed")

    async def go():
        client = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
        log = ImpressionLog(client, keys)
        log.record(imp(1))  # returns at once; the failure is the metric's, not the caller's
        await log.drain()
        assert await log.write(imp(2)) is False
    asyncio.run(go())
    assert counted("failed") == before + 2


def test_pending_writes_are_bounded(redis_url, keys):
    before = counted("dropped")

    async def go():
        client = aioredis.Redis.from_url(redis_url)
        log = ImpressionLog(client, keys, max_pending=2)
        for i in range(5):  # nothing runs until we yield: 2 pending, 3 shed
            log.record(imp(i))
        await log.drain()
        await client.aclose()
    asyncio.run(go())
    assert counted("dropped") == before + 3
    assert sync_redis.Redis.from_url(redis_url).xlen(keys.impressions_stream()) == 2
