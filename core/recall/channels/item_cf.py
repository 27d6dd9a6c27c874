"""Item-CF channel (u2i2i): neighbours of what the user engaged with last.

The user's most recent items (from the request's fresh state, so a like a moment ago
counts) each vote for their precomputed neighbours with weight
`recency_decay ** position * similarity`; the items with the most votes are returned,
except the seed items themselves. This is the channel that follows a user's interest of
the moment most closely.
"""
from __future__ import annotations

import numpy as np

from core.items import ItemTable
from core.recall.channels.base import Channel, ChannelRequest, ChannelResult
from core.recall.neighbor_table import NeighborTable
from core.registry.reader import ModelVersion


class ItemCFChannel(Channel):
    name = "item_cf"

    def __init__(self, table: NeighborTable, items: ItemTable, seeds: int = 20,
                 recency_decay: float = 0.9, version: str = ""):
        self.seeds, self.recency_decay = seeds, recency_decay
        self.swap(table, items, version)

    def swap(self, table: NeighborTable, items: ItemTable, version: str = "") -> None:
        """Serve another version: one assignment, so a request sees the old or the new pair."""
        if table.n_items != len(items):
            raise ValueError(f"item-CF table has {table.n_items} rows, item table {len(items)}")
        self._pair = (table, items)
        self.version = version

    @property
    def table(self) -> NeighborTable:
        return self._pair[0]

    @property
    def items(self) -> ItemTable:
        return self._pair[1]

    def load_version(self, mv: ModelVersion) -> None:
        self.swap(NeighborTable.load(mv.file("neighbors.npz")), ItemTable.load(mv.file("items.npz")), mv.version)

    @classmethod
    def load(cls, mv: ModelVersion) -> ItemCFChannel:
        return cls(NeighborTable.load(mv.file("neighbors.npz")), ItemTable.load(mv.file("items.npz")),
                   version=mv.version)

    def votes(self, seeds: np.ndarray, table: NeighborTable | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Dense indices and vote totals, best first, for seed items (dense, most recent first)."""
        table = table or self.table
        weights = self.recency_decay ** np.arange(seeds.size)
        weights, seeds = weights[seeds >= 0], seeds[seeds >= 0]
        if seeds.size == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        nbrs, sims, owner = table.gather(seeds)
        votes = sims * weights[owner]
        valid = ~np.isin(nbrs, seeds)
        nbrs, votes = nbrs[valid], votes[valid]
        if nbrs.size == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        uniq, inverse = np.unique(nbrs, return_inverse=True)
        total = np.bincount(inverse, weights=votes)
        order = np.argsort(-total, kind="stable")
        return uniq[order], total[order]

    async def retrieve(self, request: ChannelRequest) -> ChannelResult:
        table, items = self._pair  # one version for the whole request
        idx, total = self.votes(items.index_of(request.state.recent_items[: self.seeds]), table)
        idx, total = idx[: request.fetch], total[: request.fetch]
        return ChannelResult(items.item_id[idx], total.astype(np.float32))
