"""The online store's contract: its two writers agree with its one reader.

A user's state reaches Redis two ways: the bootstrap loader writes a world's logged history
in bulk (training/load_state.py) and the gateway's event writer applies events one by one
(core/store/events.py). Whatever wrote it, `read_user_state` must return the same state for
the same history, or the models see one user offline and another online. This suite replays
each user's logged impressions as events and compares the two states, field by field.
"""
from __future__ import annotations

import asyncio

import numpy as np
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from core.feedback import EventData, EventKind
from core.items import ItemTable
from core.store.events import EventWriter
from core.store.keys import Keys
from core.store.user_state import read_user_state
from core.versioned import Versioned
from dev.redis_server import drop_prefix
from training.load_state import load
from training.world import WorldConfig, generate

USERS = 12


@pytest.fixture(scope="module")
def world():
    return generate(WorldConfig(n_users=USERS, n_authors=20, n_videos=300, days=3), progress=False)


def events_of(world, user: int) -> list[EventData]:
    """The user's logged history as a client would report it, oldest first: a VIEW with its
    watch time for every impression, a LIKE / SHARE where the log has one, and FOLLOWs."""
    imp, v = world.impressions, world.videos
    rows = np.flatnonzero(imp["user_id"] == user)
    rows = rows[np.argsort(imp["ts_ms"][rows], kind="stable")]
    out: list[tuple[int, EventData]] = []
    for r in rows.tolist():
        item, ts = int(imp["item_id"][r]), int(imp["ts_ms"][r])
        author = int(v["author_id"][item - 1])
        out.append((ts, EventData(f"v{r}", user, item, EventKind.VIEW, int(imp["watch_ms"][r]), ts, author)))
        for kind, column in ((EventKind.LIKE, "like"), (EventKind.SHARE, "share")):
            if imp[column][r]:
                out.append((ts, EventData(f"{column}{r}", user, item, kind, 0, ts, author)))
    f = world.follows
    for r in np.flatnonzero(f["user_id"] == user).tolist():
        out.append((int(f["ts_ms"][r]), EventData(f"f{r}", user, 0, EventKind.FOLLOW, 0,
                                                  int(f["ts_ms"][r]), int(f["author_id"][r]))))
    out.sort(key=lambda pair: pair[0])
    return [e for _, e in out]


def items_of(world) -> ItemTable:
    v = world.videos
    return ItemTable.from_columns(item_id=v["item_id"], author_id=v["author_id"], category=v["category"],
                                  duration_s=v["duration_s"], publish_ms=v["publish_ms"], region=v["region"],
                                  log_pop=np.zeros(v["item_id"].size, np.float32))


def test_the_loader_and_the_event_writer_leave_the_same_state(world, redis_url, prefix):
    bulk, online = Keys(f"{prefix}-bulk"), Keys(f"{prefix}-online")
    with sync_redis.Redis.from_url(redis_url) as client:
        load(world, client, bulk, progress=False)

    async def replay_and_read():
        client = aioredis.Redis.from_url(redis_url)
        try:
            writer = EventWriter(client, online, Versioned.fixed(items_of(world)))
            states = []
            for user in range(1, USERS + 1):
                events = events_of(world, user)
                for start in range(0, len(events), 100):
                    await writer.write(events[start:start + 100])
                states.append((await read_user_state(client, bulk, user),
                               await read_user_state(client, online, user)))
            return states
        finally:
            await client.aclose()
    try:
        for user, (offline, live) in enumerate(asyncio.run(replay_and_read()), start=1):
            assert offline.recent_items.tolist() == live.recent_items.tolist(), f"user {user}: sequence"
            assert set(offline.seen_items.tolist()) == set(live.seen_items.tolist()), f"user {user}: seen"
            assert set(offline.followed_authors.tolist()) == set(live.followed_authors.tolist()), \
                f"user {user}: follows"
            # the same latest views with their watch times (the loader's times are shifted to
            # wall time; rows of one time may list in either order), newest first
            views = [sorted(zip(st.watched_items.tolist(), st.watched_ms.tolist())) for st in (offline, live)]
            assert views[0] == views[1] and views[0], f"user {user}: watched"
            assert all(np.all(np.diff(st.watched_ts_ms) <= 0) for st in (offline, live)), f"user {user}: order"
    finally:
        drop_prefix(redis_url, bulk.prefix)
        drop_prefix(redis_url, online.prefix)
