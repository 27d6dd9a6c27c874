"""Storing feedback: idempotent, atomic, acknowledged only once Redis has it.

One Lua script per batch does, for each event whose event_id is new: mark the id, update
the user's seen set, recent sequence and follows, add to the hot counters and the item's
statistics, and append to the events stream that training reads. Redis runs a script
atomically, so an event is
either fully stored (and its id marked) or not at all; a replayed id is acknowledged as a
duplicate and changes nothing. If Redis is down the call fails with UNAVAILABLE and the
client retries: there is never an acknowledgement for an event that was not stored.

(Redis Cluster: a script may only touch keys of one slot. The user's keys share a hash tag,
but the hot and stream keys do not; on Cluster the batch must be split per slot. Noted in
the README's scaling section.)
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core import metrics
from core.errors import Unavailable
from core.feedback import EventData, EventKind, hot_score, is_engaged
from core.items import ItemTable
from core.store import keys as K
from core.store.keys import Keys
from core.versioned import Versioned

KEYS_PER_EVENT = 9
ARGS_PER_EVENT = 11

# KEYS[1] = stream; then per event: marker, seq, seen, follows, hot global, hot region, item stats,
#   blocked, session.
# ARGV[1..4] = dedup ttl s, seq cap, seen ttl s, stream cap; then per event:
#   event_id, user_id, item_id, type, watch_ms, ts_ms, author_id, engaged, hot score, hot expiry ms,
#   type name
SCRIPT = """
local accepted, duplicates = 0, 0
local n = (#KEYS - 1) / %(kpe)d
for i = 0, n - 1 do
  local k = 1 + i * %(kpe)d
  local a = 4 + i * %(ape)d
  local marker, seq, seen, follows, hot_g, hot_r, stats, blocked, session =
    KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], KEYS[k + 6], KEYS[k + 7], KEYS[k + 8],
    KEYS[k + 9]
  local event_id, user_id, item = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local etype, watch_ms, ts_ms, author = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
  local engaged, score, hot_expiry = ARGV[a + 8], tonumber(ARGV[a + 9]), ARGV[a + 10]
  if redis.call('SET', marker, ts_ms, 'NX', 'EX', ARGV[1]) then
    accepted = accepted + 1
    if item ~= '0' then
      redis.call('SADD', seen, item)
      redis.call('EXPIRE', seen, ARGV[3])
      redis.call('HINCRBY', stats, ARGV[a + 11], 1)
      if watch_ms ~= '0' then redis.call('HINCRBY', stats, 'watch_ms', watch_ms) end
    end
    if engaged == '1' then
      redis.call('LREM', seq, 0, item)
      redis.call('LPUSH', seq, item)
      redis.call('LTRIM', seq, 0, tonumber(ARGV[2]) - 1)
      redis.call('LREM', session, 0, item)
      redis.call('LPUSH', session, item)
      redis.call('LTRIM', session, 0, %(session_cap)d - 1)
      redis.call('EXPIRE', session, %(session_ttl)d)
    end
    if etype == '%(follow)d' then redis.call('SADD', follows, author) end
    if etype == '%(unfollow)d' then redis.call('SREM', follows, author) end
    if etype == '%(block)d' and author ~= '0' then
      redis.call('SADD', blocked, author)
      redis.call('SREM', follows, author)
    end
    if score > 0 and item ~= '0' then
      redis.call('ZINCRBY', hot_g, score, item)
      redis.call('PEXPIREAT', hot_g, hot_expiry)
      if hot_r ~= hot_g then
        redis.call('ZINCRBY', hot_r, score, item)
        redis.call('PEXPIREAT', hot_r, hot_expiry)
      end
    end
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'event_id', event_id,
               'user_id', user_id, 'item_id', item, 'type', etype, 'watch_ms', watch_ms,
               'ts_ms', ts_ms, 'author_id', author)
  else
    duplicates = duplicates + 1
  end
end
return {accepted, duplicates}
""" % {"kpe": KEYS_PER_EVENT, "ape": ARGS_PER_EVENT, "follow": EventKind.FOLLOW,
       "unfollow": EventKind.UNFOLLOW, "block": EventKind.BLOCK, "session_cap": K.SESSION_CAP,
       "session_ttl": K.SESSION_TTL_S}


@dataclass(frozen=True)
class WriteResult:
    accepted: int
    duplicates: int


class EventWriter:
    def __init__(self, client: aioredis.Redis, keys: Keys, items: Versioned[ItemTable]):
        self.client, self.keys, self._items = client, keys, items
        self.script = client.register_script(SCRIPT)

    @property
    def items(self) -> ItemTable | None:
        """The live two-tower version's item table (followed; None before any version)."""
        return self._items.value

    def _item_facts(self, item_id: int) -> tuple[int, float | None]:
        """(author id, duration s) from the item table, (0, None) when unknown."""
        items = self.items
        if items is None or item_id == 0:
            return 0, None
        idx = int(items.index_of([item_id])[0])
        if idx < 0:
            return 0, None
        return int(items.author_id[idx]), float(items.duration_s[idx])

    async def write(self, events: list[EventData]) -> WriteResult:
        now_ms = int(time.time() * 1000)
        try:
            users = sorted({e.user_id for e in events})
            async with self.client.pipeline(transaction=False) as pipe:
                for uid in users:
                    pipe.hget(self.keys.profile(uid), "region")
                regions = dict(zip(users, [int(r or 0) for r in await pipe.execute()]))
            keys = [self.keys.events_stream()]
            args: list = [K.DEDUP_TTL_S, K.SEQ_CAP, K.SEEN_TTL_S, K.EVENTS_STREAM_CAP]
            for e in events:
                ts = e.ts_ms or now_ms
                author, duration = self._item_facts(e.item_id)
                author = e.author_id or author
                # A follow or block names an author, not a video: nothing enters the sequence.
                engaged = e.item_id != 0 and is_engaged(e.kind, e.watch_ms, duration)
                # Hot counters count when the server received the event (clients' clocks drift).
                bucket = K.hot_bucket(now_ms)
                region = regions[e.user_id]
                hot_g = self.keys.hot(K.GLOBAL_SCOPE, bucket)
                hot_r = self.keys.hot(K.region_scope(region), bucket) if region else hot_g
                keys += [self.keys.event_marker(e.event_id), self.keys.seq(e.user_id),
                         self.keys.seen(e.user_id), self.keys.follows(e.user_id), hot_g, hot_r,
                         self.keys.item_stats(e.item_id), self.keys.blocked(e.user_id),
                         self.keys.session(e.user_id)]
                args += [e.event_id, e.user_id, e.item_id, int(e.kind), e.watch_ms, ts, author,
                         int(engaged), hot_score(e.kind, engaged),
                         (bucket + K.HOT_WINDOW_H + 1) * K.HOT_BUCKET_MS, e.kind.name.lower()]
            accepted, duplicates = await self.script(keys=keys, args=args)
        except (RedisError, OSError) as err:
            metrics.EVENTS.labels("unavailable").inc(len(events))
            raise Unavailable(f"event store unavailable, nothing was stored; retry ({type(err).__name__})") from err
        metrics.EVENTS.labels("accepted").inc(accepted)
        metrics.EVENTS.labels("duplicate").inc(duplicates)
        return WriteResult(int(accepted), int(duplicates))


def stored_events(client, keys: Keys, batch: int = 10_000):
    """Every event in the stream, oldest first, as its field dict (bytes -> bytes), read in
    batches with a synchronous client: how tools check what was really stored."""
    last = "-"
    while True:
        entries = client.xrange(keys.events_stream(), min=last, count=batch)
        if last != "-":
            entries = entries[1:]  # the range is inclusive: the last entry was read already
        if not entries:
            return
        for _, fields in entries:
            yield fields
        last = entries[-1][0]

