"""DropBlockedItems: never show blocked items (the configured list plus the request's)."""
from __future__ import annotations

import numpy as np

from core.rerank.candidates import Candidates, Operations
from core.rerank.rules.base import Filter


class DropBlockedItems(Filter):
    name = "DropBlockedItems"

    def __init__(self, items: list[int] | None = None):
        self.items = np.asarray(items or [], dtype=np.int64)

    def blocked(self, ops: Operations) -> np.ndarray:
        return np.union1d(self.items, ops.blocked)

    def keep_mask(self, candidates: Candidates, ops: Operations) -> np.ndarray:
        return ~np.isin(candidates.item_ids, self.blocked(ops))
