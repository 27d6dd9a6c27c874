"""The user's online state: a plain dataclass, and its one-round-trip read from Redis."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import redis.asyncio as aioredis

from core.store.keys import Keys

_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class UserStateData:
    """What the pipeline knows about a user. Arrays are int64; `recent_items` most recent first."""

    known: bool = False
    recent_items: np.ndarray = field(default_factory=lambda: _EMPTY)
    seen_items: np.ndarray = field(default_factory=lambda: _EMPTY)
    followed_authors: np.ndarray = field(default_factory=lambda: _EMPTY)
    blocked_authors: np.ndarray = field(default_factory=lambda: _EMPTY)
    session_items: np.ndarray = field(default_factory=lambda: _EMPTY)
    # The user's latest views with their watch times, most recent first (item id, watched ms,
    # event ms): what the rank stage folds into the watch model's vector of the user.
    watched_items: np.ndarray = field(default_factory=lambda: _EMPTY)
    watched_ms: np.ndarray = field(default_factory=lambda: _EMPTY)
    watched_ts_ms: np.ndarray = field(default_factory=lambda: _EMPTY)
    age_bucket: int = 0
    gender: int = 0
    region: int = 0


def _ints(values) -> np.ndarray:
    return np.fromiter((int(v) for v in values), dtype=np.int64, count=len(values))


def _watched(entries) -> np.ndarray:
    """[3, n] int64 (item id, watched ms, event ms) from the list's "item:ms:ts" entries
    (parsed as one string: 10 µs for 100 entries, against 54 µs split one by one)."""
    if not entries:
        return np.zeros((3, 0), np.int64)
    return np.fromstring(b" ".join(entries).replace(b":", b" "), dtype=np.int64, sep=" ").reshape(-1, 3).T


async def read_user_state(client: aioredis.Redis, keys: Keys, user_id: int) -> UserStateData:
    """Profile, recent sequence, seen set, follows, session and watched views in one
    pipelined round trip."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.profile(user_id))
        pipe.lrange(keys.seq(user_id), 0, -1)
        pipe.zrange(keys.seen(user_id), 0, -1)
        pipe.smembers(keys.follows(user_id))
        pipe.smembers(keys.blocked(user_id))
        pipe.lrange(keys.session(user_id), 0, -1)
        pipe.lrange(keys.watched(user_id), 0, -1)
        profile, seq, seen, follows, blocked, session, watched = await pipe.execute()
    watched = _watched(watched)
    known = bool(profile or seq or seen or follows or blocked)
    return UserStateData(
        known=known,
        recent_items=_ints(seq),
        seen_items=_ints(seen),
        followed_authors=_ints(follows),
        blocked_authors=_ints(blocked),
        session_items=_ints(session),
        watched_items=watched[0], watched_ms=watched[1], watched_ts_ms=watched[2],
        age_bucket=int(profile.get(b"age_bucket", 0)),
        gender=int(profile.get(b"gender", 0)),
        region=int(profile.get(b"region", 0)),
    )
