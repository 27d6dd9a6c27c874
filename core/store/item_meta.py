"""Item display info (title, cover, author name, duration, tags): one Redis hash per item.

Written by the bootstrap loader (training/load_state.py) and by the catalog API's
PublishItem; read by the gateway for the served page only (10-20 items), all of it in one
pipelined round trip. What the store lacks is served empty: display info never fails a
request (the gateway counts the items served without it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis

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
