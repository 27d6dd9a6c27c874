"""Item-CF channel (u2i2i): neighbours of what the user engaged with last.

The user's most recent items (from the request's fresh state, so a like a moment ago
counts) each vote for their precomputed neighbours with weight
`recency_decay ** position * similarity`; the items with the most votes are returned,
except the seed items themselves. This is the channel that follows a user's interest of
the moment most closely.
"""
from __future__ import annotations

import numpy as np

from services.common.items import ItemTable
from services.common.registry import ModelVersion
from services.recall.channels.base import Channel, ChannelRequest, ChannelResult
from services.recall.neighbor_table import NeighborTable


class ItemCFChannel(Channel):
    name = "item_cf"

    def __init__(self, table: NeighborTable, items: ItemTable, seeds: int = 20,
                 recency_decay: float = 0.9):
        if table.neighbors.shape[0] != len(items):
            raise ValueError(f"item-CF table has {table.neighbors.shape[0]} rows, "
                             f"item table {len(items)}")
        self.table, self.items = table, items
        self.seeds, self.recency_decay = seeds, recency_decay

    @classmethod
    def load(cls, mv: ModelVersion) -> ItemCFChannel:
        return cls(NeighborTable.load(mv.file("neighbors.npz")), ItemTable.load(mv.file("items.npz")))

    def votes(self, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dense indices and vote totals, best first, for seed items (dense, most recent first)."""
        weights = self.recency_decay ** np.arange(seeds.size)
        weights, seeds = weights[seeds >= 0], seeds[seeds >= 0]
        if seeds.size == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        nbrs = self.table.neighbors[seeds]
        votes = self.table.scores[seeds] * weights[:, None]
        valid = (nbrs >= 0) & ~np.isin(nbrs, seeds)
        nbrs, votes = nbrs[valid], votes[valid]
        if nbrs.size == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        uniq, inverse = np.unique(nbrs, return_inverse=True)
        total = np.bincount(inverse, weights=votes)
        order = np.argsort(-total, kind="stable")
        return uniq[order], total[order]

    async def retrieve(self, request: ChannelRequest) -> ChannelResult:
        idx, total = self.votes(self.items.index_of(request.state.recent_items[: self.seeds]))
        idx, total = idx[: request.fetch], total[: request.fetch]
        return ChannelResult(self.items.item_id[idx], total.astype(np.float32))
