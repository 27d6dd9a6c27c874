"""Item display info (title, cover, author name, duration, tags): one Redis hash per item.

Written by the bootstrap loader (training/load_state.py) and by the catalog API's
PublishItem; read by the gateway for the served page only (10-20 items), all of it in one
pipelined round trip, and kept in process for a while (`ItemMetaCache`): a page whose items
were all served lately needs no round trip at all. What the store lacks is served empty:
display info never fails a request (the gateway counts the items served without it).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from cachetools import TTLCache

from core.store.keys import Keys

FIELDS = ("title", "cover_url", "author_name", "duration_s", "tags")
TAG_SEPARATOR = ","


def generated_cover_url(item_id: int) -> str:
    """The gateway's generated cover of a video (gateway/http/covers.py), a path on its HTTP
    server: the synthetic world's covers, and a published video's when it names none."""
    return f"/v1/covers/{int(item_id)}.svg"


@dataclass(frozen=True)
class ItemMeta:
    title: str = ""
    cover_url: str = ""
    author_name: str = ""
    duration_s: float = 0.0
    tags: tuple[str, ...] = field(default_factory=tuple)

    def to_mapping(self) -> dict[str, str]:
        """The hash's fields (tags comma-joined; tags never contain a comma)."""
        return {"title": self.title, "cover_url": self.cover_url, "author_name": self.author_name,
                "duration_s": f"{self.duration_s:g}", "tags": TAG_SEPARATOR.join(self.tags)}

    @classmethod
    def from_values(cls, values: list[bytes | None]) -> ItemMeta | None:
        """From an HMGET reply in FIELDS order; None when the item has no metadata at all."""
        if all(v is None for v in values):
            return None
        text = [v.decode() if v is not None else "" for v in values]
        title, cover, author, duration, tags = text
        try:
            seconds = float(duration) if duration else 0.0
        except ValueError:  # a hand-edited hash: serve the rest
            seconds = 0.0
        return cls(title, cover, author, seconds, tuple(t for t in tags.split(TAG_SEPARATOR) if t))


def queue_write(pipe, keys: Keys, item_id: int, meta: ItemMeta) -> None:
    """Add the write of one item's metadata to a (sync or async) pipeline."""
    pipe.hset(keys.item_meta(item_id), mapping=meta.to_mapping())


def queue_read(pipe, keys: Keys, item_ids: list[int]) -> None:
    """Add the reads of these items' metadata to a pipeline (one HMGET each)."""
    for item_id in item_ids:
        pipe.hmget(keys.item_meta(item_id), FIELDS)


def parse_read(item_ids: list[int], replies: list) -> dict[int, ItemMeta]:
    """The replies of `queue_read`, as item id -> metadata (items without any left out)."""
    out = {}
    for item_id, values in zip(item_ids, replies):
        meta = ItemMeta.from_values(values)
        if meta is not None:
            out[item_id] = meta
    return out


async def read_item_meta(client: aioredis.Redis, keys: Keys, item_ids: list[int]) -> dict[int, ItemMeta]:
    """Metadata of these items in one pipelined round trip."""
    if not item_ids:
        return {}
    async with client.pipeline(transaction=False) as pipe:
        queue_read(pipe, keys, item_ids)
        replies = await pipe.execute()
    return parse_read(item_ids, replies)


async def write_item_meta(client: aioredis.Redis, keys: Keys, item_id: int, meta: ItemMeta) -> None:
    await client.hset(keys.item_meta(item_id), mapping=meta.to_mapping())


class ItemMetaCache:
    """Display info kept in process for `ttl_s` seconds, at most `max_items` videos (least
    recently used out first), items without any included (so a video with no display info
    does not cost a read on every page). An edit reaches a page within `ttl_s`; the process
    that stores an edit (the gateway's PublishItem) sees it at once (`put`). ttl_s = 0: off."""

    def __init__(self, ttl_s: float = 30.0, max_items: int = 100_000, timer: Callable[[], float] | None = None):
        self.enabled = ttl_s > 0
        self._cache: TTLCache = TTLCache(max_items, ttl_s if self.enabled else 1.0,
                                         **({"timer": timer} if timer is not None else {}))

    def split(self, item_ids: list[int]) -> tuple[dict[int, ItemMeta], list[int]]:
        """(what is cached: item -> metadata, items cached as having none left out; the items to read)."""
        if not self.enabled:
            return {}, list(item_ids)
        hits, misses = {}, []
        for item_id in item_ids:
            meta = self._cache.get(item_id, _MISSING)
            if meta is _MISSING:
                misses.append(item_id)
            elif meta is not None:
                hits[item_id] = meta
        return hits, misses

    def store(self, item_ids: list[int], found: dict[int, ItemMeta]) -> None:
        """Keep what a read answered for these items (None for those it had nothing for)."""
        if self.enabled:
            for item_id in item_ids:
                self._cache[item_id] = found.get(item_id)

    def put(self, item_id: int, meta: ItemMeta) -> None:
        if self.enabled:
            self._cache[item_id] = meta


_MISSING = object()
