"""Which ranker versions this process holds, and which one serves a request.

The live version is one reference, replaced atomically by `promote`; a request that started
on the old version finishes on it (it holds its own reference). A pinned version is loaded
on first use and kept in a small cache.
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict

from services.common.registry import Registry
from services.rank.ranker import LoadedRanker

MODEL_NAME = "ranker"


class RankerStore:
    def __init__(self, registry: Registry, threads: int = 1, cache_size: int = 3):
        self.registry = registry
        self.threads = threads
        self.cache_size = cache_size
        self.live: LoadedRanker = self._load(None)
        self._pinned: OrderedDict[str, LoadedRanker] = OrderedDict()
        self._lock = asyncio.Lock()

    def _load(self, version: str | None) -> LoadedRanker:
        return LoadedRanker.load(self.registry.open(MODEL_NAME, version), self.threads)

    async def get(self, version: str = "") -> LoadedRanker:
        live = self.live
        if not version or version == live.version:
            return live
        if version in self._pinned:
            self._pinned.move_to_end(version)
            return self._pinned[version]
        async with self._lock:
            if version not in self._pinned:
                ranker = await asyncio.to_thread(self._load, version)
                self._pinned[version] = ranker
                while len(self._pinned) > self.cache_size:
                    self._pinned.popitem(last=False)
        return self._pinned[version]

    async def promote(self, version: str) -> tuple[LoadedRanker, str]:
        """Load and verify `version` off the request path, then make it live."""
        ranker = await asyncio.to_thread(self._load, version)
        previous = self.registry.set_live(MODEL_NAME, version)
        self.live = ranker
        return ranker, previous
