"""The list served when recall cannot answer: recent hot items, cached in memory.

Refreshed from Redis (the recall service's own hot channel logic) at most every
`refresh_s`; when Redis is down too, the last good list is served, and before any list was
read, the catalog's most popular items from the item table.
"""
from __future__ import annotations

import asyncio
import time

import numpy as np

from core.context import RequestContext
from core.items import ItemTable
from core.recall.channels.base import ChannelRequest
from core.recall.channels.hot import HotChannel
from core.store.user_state import UserStateData


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
                now_ms = int(time.time() * 1000)  # the hot channel reads wall-clock buckets only
                req = ChannelRequest(RequestContext(user_id=0), UserStateData(), self.size,
                                     self.size, now_ms, now_ms)
                result = await asyncio.wait_for(self.hot.retrieve(req), self.timeout_s)
                if len(result):
                    self.items = result.item_ids
            except Exception:  # keep serving the last good list
                pass
        return self.items
