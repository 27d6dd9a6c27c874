"""The list served when recall cannot answer: recent hot items, cached in memory.

Refreshed from Redis (the global hot list, read by the recall hot channel's own code) at
most every `refresh_s`; when Redis is down too, the last good list is served, and before any list was
read, the catalog's most popular items from the item table.
"""
from __future__ import annotations

import asyncio
import time

import numpy as np

from core.items import ItemTable
from core.recall.channels.hot import HotChannel
from core.store.keys import GLOBAL_SCOPE


class HotFallback:
    def __init__(self, hot: HotChannel, items: ItemTable | None, size: int = 300,
                 refresh_s: float = 10.0, timeout_s: float = 0.05):
        self.hot, self.size, self.refresh_s, self.timeout_s = hot, size, refresh_s, timeout_s
        self.items = (items.item_id[np.argsort(-items.log_pop, kind="stable")[:size]]
                      if items is not None else np.zeros(0, np.int64))
        self._read_at = float("-inf")

    async def get(self) -> np.ndarray:
        if time.monotonic() - self._read_at >= self.refresh_s:
            self._read_at = time.monotonic()
            try:
                now_ms = int(time.time() * 1000)  # hot buckets are wall-clock hours
                ids, _ = await asyncio.wait_for(self.hot.scope_list(GLOBAL_SCOPE, now_ms), self.timeout_s)
                if ids.size:
                    self.items = ids[: self.size]
            except Exception:  # keep serving the last good list
                pass
        return self.items
