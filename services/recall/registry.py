"""Channels by name. Unknown names in configuration fail at start-up, naming the channel."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis

from services.common.keys import Keys
from services.common.registry import Registry
from services.recall.channels.base import Channel
from services.recall.channels.hot import HotChannel
from services.recall.channels.item_cf import ItemCFChannel
from services.recall.channels.two_tower import TwoTowerChannel, TwoTowerModel


@dataclass(frozen=True)
class Resources:
    """What channels may need; built once in the entry point."""

    redis: aioredis.Redis
    keys: Keys
    registry: Registry
    onnx_threads: int = 1


def _two_tower(res: Resources) -> Channel:
    return TwoTowerChannel(TwoTowerModel.load(res.registry.open("two_tower"), res.onnx_threads), res.onnx_threads)


FACTORIES: dict[str, Callable[[Resources], Channel]] = {
    "hot": lambda res: HotChannel(res.redis, res.keys),
    "two_tower": _two_tower,
    "item_cf": lambda res: ItemCFChannel.load(res.registry.open("item_cf")),
}


def build_channels(names: list[str], res: Resources) -> list[Channel]:
    unknown = [n for n in names if n not in FACTORIES]
    if unknown:
        raise ValueError(f"RECALL_CHANNELS: unknown channel(s) {unknown}; known: {sorted(FACTORIES)}")
    return [FACTORIES[n](res) for n in names]
