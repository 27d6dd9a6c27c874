"""Storing feedback: idempotent, atomic, acknowledged only once Redis has it.

One Lua script per batch does, for each event whose event_id is new: mark the id, update
the user's seen set, recent sequence, follows and watched views, add to the hot counters and the item's
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

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core import metrics
from core.errors import InvalidArgument, Unavailable
from core.feedback import EventData, EventKind, hot_score, is_engaged
from core.items import ItemTable
from core.store import keys as K
from core.store.keys import Keys
from core.versioned import Versioned

KEYS_PER_EVENT = 10
ARGS_PER_EVENT = 11

# KEYS[1] = stream; then per event: marker, seq, seen, follows, hot global, hot region, item stats,
#   blocked, session, watched.
# ARGV[1..6] = dedup ttl s, seq cap, seen ttl s, stream cap, seen cap, item stats ttl s; then per
#   event: event_id, user_id, item_id, type, watch_ms, ts_ms, author_id, engaged, hot score,
#   hot expiry ms, type name
#
# Redis does not roll a script back when a command in it fails: the writes before the error
# stay. So the script first checks everything that could make a write fail (every key's type),
# for the whole batch, before it writes anything; then, per event, it writes and sets the
# idempotency marker last, so a marker always means "fully stored": an event cut short by an
# error nobody could check for (say OOM) has no marker and its retry stores it again.
SCRIPT = """
local n = (#KEYS - 1) / %(kpe)d
local want = {'list', 'zset', 'set', 'zset', 'zset', 'hash', 'set', 'list', 'list'}
local function check(key, kind)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= kind then
    return redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. t .. ', not a ' .. kind .. '; nothing stored')
  end
end
local bad = check(KEYS[1], 'stream')
if bad then return bad end
for i = 0, n - 1 do
  local k = 1 + i * %(kpe)d
  for j = 1, 9 do
    bad = check(KEYS[k + 1 + j], want[j])
    if bad then return bad end
  end
end
local accepted, duplicates = 0, 0
local fresh = {}
for i = 0, n - 1 do
  local k = 1 + i * %(kpe)d
  local a = 6 + i * %(ape)d
  local marker, seq, seen, follows, hot_g, hot_r, stats, blocked, session, watched =
    KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], KEYS[k + 6], KEYS[k + 7], KEYS[k + 8],
    KEYS[k + 9], KEYS[k + 10]
  local event_id, user_id, item = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local etype, watch_ms, ts_ms, author = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
  local engaged, score, hot_expiry = ARGV[a + 8], tonumber(ARGV[a + 9]), ARGV[a + 10]
  -- a repeated id within one batch is a duplicate too (its marker is set only at the end)
  if fresh[marker] or redis.call('EXISTS', marker) == 1 then
    duplicates = duplicates + 1
  else
    fresh[marker] = true
    accepted = accepted + 1
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'event_id', event_id,
               'user_id', user_id, 'item_id', item, 'type', etype, 'watch_ms', watch_ms,
               'ts_ms', ts_ms, 'author_id', author)
    if item ~= '0' then
      redis.call('ZADD', seen, ts_ms, item)
      local over = redis.call('ZCARD', seen) - tonumber(ARGV[5])
      if over > 0 then redis.call('ZREMRANGEBYRANK', seen, 0, over - 1) end
      redis.call('EXPIRE', seen, ARGV[3])
      redis.call('HINCRBY', stats, ARGV[a + 11], 1)
      if watch_ms ~= '0' then redis.call('HINCRBY', stats, 'watch_ms', watch_ms) end
      redis.call('EXPIRE', stats, ARGV[6])
      if etype == '%(view)d' or etype == '%(skip)d' then
        redis.call('LPUSH', watched, item .. ':' .. watch_ms .. ':' .. ts_ms)
        redis.call('LTRIM', watched, 0, %(watched_cap)d - 1)
        redis.call('EXPIRE', watched, ARGV[3])
      end
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
    redis.call('SET', marker, ts_ms, 'EX', ARGV[1])
  end
end
return {accepted, duplicates}
""" % {"kpe": KEYS_PER_EVENT, "ape": ARGS_PER_EVENT, "follow": EventKind.FOLLOW,
       "unfollow": EventKind.UNFOLLOW, "block": EventKind.BLOCK, "session_cap": K.SESSION_CAP,
       "session_ttl": K.SESSION_TTL_S, "view": EventKind.VIEW, "skip": EventKind.SKIP, "watched_cap": K.WATCHED_CAP}


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

    @staticmethod
    def _known(items: ItemTable | None, events: list[EventData]) -> set[int]:
        """The events' item ids the item table holds (all of them when there is no table)."""
        ids = np.fromiter((e.item_id for e in events if e.item_id), dtype=np.int64)
        if items is None:
            return set(ids.tolist())
        return set(ids[items.index_of(ids) >= 0].tolist()) if ids.size else set()

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
        items = self.items
        # Events for items nobody knows would grow the stats keys and the seen sets without
        # bound: with an item table, an id must be in it or published online since.
        unknown = sorted({e.item_id for e in events if e.item_id} - self._known(items, events))
        try:
            users = sorted({e.user_id for e in events})
            async with self.client.pipeline(transaction=False) as pipe:
                for uid in users:
                    pipe.hget(self.keys.profile(uid), "region")
                if unknown:
                    pipe.hmget(self.keys.catalog_items(), unknown)
                replies = await pipe.execute()
            regions = dict(zip(users, [int(r or 0) for r in replies[:len(users)]]))
            if unknown:
                published = {i for i, v in zip(unknown, replies[-1]) if v is not None}
                for i, e in enumerate(events):
                    if e.item_id in unknown and e.item_id not in published:
                        raise InvalidArgument(f"events[{i}].item_id", f"unknown item {e.item_id}")
            keys = [self.keys.events_stream()]
            args: list = [K.DEDUP_TTL_S, K.SEQ_CAP, K.SEEN_TTL_S, K.EVENTS_STREAM_CAP, K.SEEN_CAP, K.ITEM_STATS_TTL_S]
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
                         self.keys.session(e.user_id), self.keys.watched(e.user_id)]
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

