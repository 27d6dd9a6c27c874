"""Channels by name. Unknown names in configuration fail at start-up, naming the channel."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from core.items import ItemTable
from core.recall.channels.base import Channel
from core.recall.channels.follow import FollowChannel
from core.recall.channels.fresh import FreshChannel
from core.recall.channels.hot import HotChannel
from core.recall.channels.item_cf import ItemCFChannel
from core.recall.channels.mf import MFChannel
from core.recall.channels.region import RegionChannel
from core.recall.channels.two_tower import TwoTowerChannel, TwoTowerModel
from core.recall.live_catalog import LiveCatalog
from core.registry.reader import ModelVersion, Registry
from core.store.keys import Keys


@dataclass
class Resources:
    """What channels may need; built once in the entry point."""

    redis: aioredis.Redis
    keys: Keys
    registry: Registry
    catalog: LiveCatalog
    onnx_threads: int = 1
    ann_params: str | None = None  # faiss search parameters; None = the version's manifest
    _opened: dict[str, ModelVersion] = field(default_factory=dict)
    _items: dict[str, ItemTable] = field(default_factory=dict)

    def version(self, name: str) -> ModelVersion:
        """The live version of a model, opened (and its files hashed) once per start."""
        if name not in self._opened:
            self._opened[name] = self.registry.open(name)
        return self._opened[name]

    def items(self, name: str) -> ItemTable:
        """The live version's item table, loaded once (the catalog and the channel share it)."""
        if name not in self._items:
            self._items[name] = ItemTable.load(self.version(name).file("items.npz"))
        return self._items[name]


def _two_tower(res: Resources) -> Channel:
    model = TwoTowerModel.load(res.version("two_tower"), res.onnx_threads, res.ann_params, res.items("two_tower"))
    channel = TwoTowerChannel(model, res.onnx_threads, res.ann_params)
    res.catalog.on_publish(channel.add_items)
    return channel


FACTORIES: dict[str, Callable[[Resources], Channel]] = {
    "hot": lambda res: HotChannel(res.redis, res.keys),
    "two_tower": _two_tower,
    "item_cf": lambda res: ItemCFChannel.load(res.version("item_cf")),
    "mf": lambda res: MFChannel.load(res.version("item_cf")),  # ALS factors live in the item-CF version
    "follow": lambda res: FollowChannel(res.catalog),
    "fresh": lambda res: FreshChannel(res.catalog),
    "region": lambda res: RegionChannel.load(res.version("item_cf")),
}


def check_names(names: list[str]) -> None:
    unknown = [n for n in names if n not in FACTORIES]
    if unknown:
        raise ValueError(f"RECALL_CHANNELS: unknown channel(s) {unknown}; known: {sorted(FACTORIES)}")


def build_channels(names: list[str], res: Resources) -> list[Channel]:
    check_names(names)
    return [FACTORIES[n](res) for n in names]
