"""Region channel: regional favourites for users with little history (cold start).

A user with fewer than `max_history` engaged items gives the personalised channels little to
work with; this channel then returns what users of the same region engaged with most over
the training window (the item-CF version's `region_top.npz`). For users with enough
history it returns nothing, leaving the quota to the personalised channels.
"""
from __future__ import annotations

from core.items import ItemTable
from core.recall.channels.base import Channel, ChannelRequest, ChannelResult
from core.recall.region_table import RegionTable
from core.registry.reader import ModelVersion


class RegionChannel(Channel):
    name = "region"

    def __init__(self, table: RegionTable, items: ItemTable, max_history: int = 5, version: str = ""):
        self.max_history = max_history
        self._pair, self.version = (table, items), version

    def load_version(self, mv: ModelVersion) -> None:
        self._pair = (RegionTable.load(mv.file("region_top.npz")), ItemTable.load(mv.file("items.npz")))
        self.version = mv.version

    @classmethod
    def load(cls, mv: ModelVersion, max_history: int = 5) -> RegionChannel:
        channel = cls.__new__(cls)
        channel.max_history = max_history
        channel.load_version(mv)
        return channel

    def favourites(self, region: int, history: int, k: int) -> ChannelResult:
        """The region's top k for a user with `history` engaged items (none past max_history)."""
        if history >= self.max_history:
            return ChannelResult.empty()
        table, items = self._pair
        idx, scores = table.top(region)
        return ChannelResult(items.item_id[idx[:k]], scores[:k])

    async def retrieve(self, request: ChannelRequest) -> ChannelResult:
        return self.favourites(request.context.region or request.state.region,
                               int(request.state.recent_items.size), request.fetch)
