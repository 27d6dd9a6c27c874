"""The online catalog: videos published or taken down while the system runs.

Model versions carry the catalog they were built from (`items.npz`). What changes after that
lives in Redis under the `{catalog}` hash tag (see keys.py): a hash of published items, a set
of removed ids, and a change log (a stream). `CatalogWriter` (used by the gateway's catalog
RPCs) changes all three in one atomic script, so an acknowledged change is never half done.
`CatalogFollower` (used by the services) reads the current state once, then blocks on the
log, so a change reaches every replica within ~50 ms (a burst applied as one batch); after
any error it re-reads the whole state, so a replica that lost its place (Redis restarted,
log trimmed) catches up.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core import metrics
from core.errors import AlreadyExists, Unavailable
from core.store import keys as K
from core.store.keys import Keys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogItem:
    item_id: int
    author_id: int
    category: int
    duration_s: float
    publish_ms: int  # catalog time
    region: int

    def encode(self) -> str:
        return f"{self.author_id},{self.category},{self.duration_s:g},{self.publish_ms},{self.region}"

    @classmethod
    def decode(cls, item_id: int, value: str | bytes) -> CatalogItem:
        if isinstance(value, bytes):
            value = value.decode()
        author, category, duration, publish, region = value.split(",")
        return cls(int(item_id), int(author), int(category), float(duration), int(publish), int(region))


# KEYS: items hash, removed set, log stream. ARGV: op, item id, encoded item (publish), log cap.
# Returns 1 when applied, 0 when a publish hit an id that exists (or was removed).
_SCRIPT = """
local op, id = ARGV[1], ARGV[2]
if op == 'publish' then
  if redis.call('SISMEMBER', KEYS[2], id) == 1 then return 0 end
  if redis.call('HSETNX', KEYS[1], id, ARGV[3]) == 0 then return 0 end
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'op', 'publish', 'id', id, 'item', ARGV[3])
else
  redis.call('SADD', KEYS[2], id)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'op', 'remove', 'id', id)
end
return 1
"""


class CatalogWriter:
    def __init__(self, client: aioredis.Redis, keys: Keys):
        self.keys = keys
        self._script = client.register_script(_SCRIPT)

    async def _run(self, *args) -> int:
        k = self.keys
        try:
            return int(await self._script(keys=[k.catalog_items(), k.catalog_removed(), k.catalog_log()],
                                          args=[*args, K.CATALOG_LOG_CAP]))
        except (RedisError, OSError) as err:
            raise Unavailable(f"catalog store unavailable: {type(err).__name__}") from err

    async def publish(self, item: CatalogItem) -> None:
        """Store a new video; AlreadyExists when its id was published or removed before."""
        if not await self._run("publish", item.item_id, item.encode()):
            raise AlreadyExists(f"item_id: {item.item_id} was already published or removed")

    async def remove(self, item_id: int) -> None:
        """Take a video down (idempotent)."""
        await self._run("remove", item_id, "")


class CatalogSink:
    """What a follower applies changes to (LiveCatalog in the recall service)."""

    def publish(self, items: list[CatalogItem]) -> None: ...
    def remove(self, item_ids: list[int]) -> None: ...


class CatalogFollower:
    """Keeps a sink in step with the catalog log.

    Publishes come in bursts (an uploader's batch, a backfill), and each call to the sink's
    `publish` rebuilds the live catalog's arrays and the two-tower channel's vectors for the
    online items, so applying them one by one costs a burst of n publishes n rebuilds per
    recall replica. The follower applies a burst as one batch instead: once the log has news
    it waits `batch_window_s` for the rest of the burst, drains what is there (at most
    `max_batch` entries) and applies it with one `publish` and one `remove`. A new video is
    visible `batch_window_s` later than it could be (50 ms against the seconds an upload
    takes to matter); a takedown alone is applied without waiting.
    """

    def __init__(self, client: aioredis.Redis, keys: Keys, sink: CatalogSink, block_ms: int = 500,
                 on_error_sleep_s: float = 0.5, batch_window_s: float = 0.05, read_count: int = 1000,
                 max_batch: int = 20_000, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.client, self.keys, self.sink = client, keys, sink
        self.block_ms, self.on_error_sleep_s = block_ms, on_error_sleep_s
        self.batch_window_s, self.read_count, self.max_batch = batch_window_s, read_count, max_batch
        self._sleep = sleep
        self.last_id: bytes | str | None = None
        self.applied = 0
        self.batches = 0

    async def load(self) -> None:
        """Read the whole current state; the log is followed from the entry read here."""
        k = self.keys
        last = await self.client.xrevrange(k.catalog_log(), count=1)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.catalog_items())
            pipe.smembers(k.catalog_removed())
            items, removed = await pipe.execute()
        self.sink.publish([CatalogItem.decode(int(i), v) for i, v in items.items()])
        self.sink.remove([int(i) for i in removed])
        # Changes between XREVRANGE and the reads above are in both: applying twice is harmless.
        self.last_id = last[0][0] if last else "0-0"

    async def _read(self, block_ms: int | None) -> list:
        reply = await self.client.xread({self.keys.catalog_log(): self.last_id},
                                        count=self.read_count, block=block_ms)
        return [e for _, entries in reply or [] for e in entries]

    async def poll(self) -> int:
        """Apply the log entries after the last one seen, as one batch (waits up to block_ms
        for the first one, then batch_window_s for the rest of a burst)."""
        if self.last_id is None:
            await self.load()
        entries = await self._read(self.block_ms)
        if not entries:
            return 0
        if self.batch_window_s > 0 and any(f.get(b"op") == b"publish" for _, f in entries):
            await self._sleep(self.batch_window_s)  # takedowns alone are applied at once
        published, removed = [], []
        n = 0
        while entries:
            for entry_id, fields in entries:
                op = fields.get(b"op")
                if op == b"publish":
                    published.append(CatalogItem.decode(int(fields[b"id"]), fields[b"item"]))
                elif op == b"remove":
                    removed.append(int(fields[b"id"]))
                self.last_id = entry_id
            n += len(entries)
            if n >= self.max_batch:
                break  # the rest is the next batch: memory stays bounded during a backfill
            entries = await self._read(None)  # what else is there, without waiting
        # Publishes first: a video published and taken down in one batch ends up removed (the
        # writer refuses to publish an id once removed, so the other order cannot occur).
        self.sink.publish(published)
        self.sink.remove(removed)
        metrics.CATALOG_CHANGES.labels("publish").inc(len(published))
        metrics.CATALOG_CHANGES.labels("remove").inc(len(removed))
        self.applied += n
        self.batches += 1
        return n

    async def follow(self, stop: Callable[[], bool] = lambda: False) -> None:
        while not stop():
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # Redis down or log trimmed: re-read everything when back
                log.warning("catalog follow failed; will reload", extra={"error": repr(err)})
                self.last_id = None
                await asyncio.sleep(self.on_error_sleep_s)
