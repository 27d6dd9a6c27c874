"""Hot channel: what is trending now, globally and in the user's region.

Hot lists are the same for every user of a scope, so they are not read per request: every
`refresh_s` seconds the channel asks Redis to sum the last `window_h` hourly buckets of a
scope with an exponential time decay (ZUNIONSTORE with weights, computed inside Redis), reads
the top `depth`, and keeps that list in memory. A burst in the last hour therefore reaches
feeds within `refresh_s`, and a request costs no Redis round trip at all while the cache is
fresh. If a refresh fails the last good list keeps serving.
"""
from __future__ import annotations

import asyncio
import time

import numpy as np
import redis.asyncio as aioredis

from core.recall.channels.base import Channel, ChannelRequest, ChannelResult
from core.store import keys as K
from core.store.keys import Keys

_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.float32))


class HotChannel(Channel):
    name = "hot"

    def __init__(self, client: aioredis.Redis, keys: Keys, window_h: int = K.HOT_WINDOW_H,
                 half_life_h: float = 6.0, depth: int = 2000, refresh_s: float = 2.0):
        self.client, self.keys = client, keys
        self.window_h, self.half_life_h = window_h, half_life_h
        self.depth, self.refresh_s = depth, refresh_s
        self._cache: dict[str, tuple[float, tuple[np.ndarray, np.ndarray]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def _read_scope(self, scope: str, now_ms: int) -> tuple[np.ndarray, np.ndarray]:
        now_bucket = K.hot_bucket(now_ms)
        buckets = [self.keys.hot(scope, now_bucket - age) for age in range(self.window_h)]
        weights = [0.5 ** (age / self.half_life_h) for age in range(self.window_h)]
        agg = self.keys.hot_aggregate(scope)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zunionstore(agg, dict(zip(buckets, weights)))
            pipe.zrevrange(agg, 0, self.depth - 1, withscores=True)
            pipe.expire(agg, 3600)
            _, top, _ = await pipe.execute()
        if not top:
            return _EMPTY
        ids = np.fromiter((int(m) for m, _ in top), dtype=np.int64, count=len(top))
        scores = np.fromiter((s for _, s in top), dtype=np.float32, count=len(top))
        return ids, scores

    async def scope_list(self, scope: str, now_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """The scope's hot list, from memory when fresh, else refreshed (one refresher at a time)."""
        cached = self._cache.get(scope)
        if cached and time.monotonic() - cached[0] < self.refresh_s:
            return cached[1]
        lock = self._locks.setdefault(scope, asyncio.Lock())
        if lock.locked() and cached:
            return cached[1]  # someone is refreshing: serve the slightly stale list
        async with lock:
            cached = self._cache.get(scope)
            if cached and time.monotonic() - cached[0] < self.refresh_s:
                return cached[1]
            try:
                value = await self._read_scope(scope, now_ms)
            except Exception:
                if cached:
                    return cached[1]
                raise
            self._cache[scope] = (time.monotonic(), value)
            return value

    async def retrieve(self, request: ChannelRequest) -> ChannelResult:
        region = request.context.region or request.state.region
        scopes = [K.GLOBAL_SCOPE] + ([K.region_scope(region)] if region else [])
        lists = [await self.scope_list(s, request.now_ms) for s in scopes]
        ids = np.concatenate([ids for ids, _ in lists])
        # Each scope is normalised by its top score so the regional list can compete.
        scores = np.concatenate([s / s[0] if s.size and s[0] > 0 else s for _, s in lists])
        return top_by_total(ids, scores, request.fetch)


def top_by_total(ids: np.ndarray, scores: np.ndarray, k: int) -> ChannelResult:
    """Sum scores per id, keep the k best."""
    if ids.size == 0:
        return ChannelResult.empty()
    uniq, inverse = np.unique(ids, return_inverse=True)
    total = np.zeros(uniq.size)
    np.add.at(total, inverse, scores)
    order = np.argsort(-total, kind="stable")[:k]
    return ChannelResult(uniq[order], total[order].astype(np.float32))
