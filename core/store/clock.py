"""The catalog's clock.

Item timestamps (publish time) are in the catalog's time. For a live catalog that is wall
time; a synthetic world loaded "now" is shifted by the offset the state loader stored in the
meta hash. `CatalogClock` turns wall time into catalog time, re-reading the offset now and
then so a reload is picked up without a restart.
"""
from __future__ import annotations

import time

import redis.asyncio as aioredis

from core.store.keys import Keys


class CatalogClock:
    def __init__(self, client: aioredis.Redis | None, keys: Keys, refresh_s: float = 30.0):
        self.client, self.keys, self.refresh_s = client, keys, refresh_s
        self.offset_ms = 0
        self._read_at = float("-inf")

    async def refresh(self) -> None:
        if self.client is None or time.monotonic() - self._read_at < self.refresh_s:
            return
        self._read_at = time.monotonic()
        try:
            value = await self.client.hget(self.keys.meta(), "world_offset_ms")
        except Exception:  # Redis down: keep the last known offset
            return
        self.offset_ms = int(value or 0)

    def now_ms(self) -> int:
        return int(time.time() * 1000) - self.offset_ms
