"""The channel contract, run against every registered channel with real artifacts and Redis:
at most `fetch` items, distinct, catalog ids, finite scores best first, no failure for an
unknown user."""
from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from core.context import RequestContext
from core.items import ItemTable
from core.recall.build import FACTORIES, Resources, build_channels
from core.recall.channels.base import ChannelRequest
from core.recall.live_catalog import LiveCatalog
from core.registry.reader import Registry
from core.store.clock import CatalogClock
from core.store.user_state import UserStateData
from training import load_state


@pytest.fixture
def loaded(artifacts, world, redis_url, keys):
    client = sync_redis.Redis.from_url(redis_url)
    load_state.load(world, client, keys, progress=False)
    client.close()
    return artifacts


def run_channel(name, artifacts, redis_url, keys, state, fetch):
    async def go():
        client = aioredis.Redis.from_url(redis_url)
        try:
            registry = Registry(artifacts[1])
            catalog = LiveCatalog(ItemTable.load(registry.open("two_tower").file("items.npz")))
            [channel] = build_channels([name], Resources(client, keys, registry, catalog))
            clock = CatalogClock(client, keys)
            await clock.refresh()
            request = ChannelRequest(RequestContext(user_id=1, region=1), state, fetch, fetch,
                                     int(time.time() * 1000), clock.now_ms())
            return await channel.retrieve(request)
        finally:
            await client.aclose()
    return asyncio.run(go())


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("fetch", [1, 50, 400])
def test_channel_contract(name, fetch, loaded, world, redis_url, keys):
    # A newish user (a few engaged items, so the cold-start region channel answers too) who
    # follows the most prolific authors (so the follow channel has uploads to find).
    items = world.impressions["item_id"][world.impressions["user_id"] == 1]
    authors, counts = np.unique(world.videos["author_id"], return_counts=True)
    state = UserStateData(known=True, recent_items=items[::-1][:4].astype(np.int64),
                          followed_authors=authors[np.argsort(-counts)[:50]].astype(np.int64),
                          region=int(world.users["region"][0]))
    out = run_channel(name, loaded, redis_url, keys, state, fetch)
    assert 0 < len(out) <= fetch
    assert out.item_ids.dtype == np.int64 and len(np.unique(out.item_ids)) == len(out)
    assert np.all(np.isin(out.item_ids, world.videos["item_id"]))
    assert np.all(np.isfinite(out.scores)) and np.all(np.diff(out.scores) <= 1e-6)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_channel_survives_an_unknown_user(name, loaded, redis_url, keys):
    out = run_channel(name, loaded, redis_url, keys, UserStateData(), 20)
    assert len(out) <= 20


def test_two_tower_gives_a_published_video_a_vector_and_finds_it(artifacts):
    from core.recall.channels.two_tower import TwoTowerChannel, TwoTowerModel
    from core.store.catalog_log import CatalogItem

    mv = Registry(artifacts[1]).open("two_tower")
    channel = TwoTowerChannel(TwoTowerModel.load(mv))
    items = channel.model.items
    new = CatalogItem(10_000_000, int(items.author_id[0]), int(items.category[0]), 30.0, 0, 1)
    channel.add_items([new])
    channel.add_items([new])  # a replay adds nothing
    assert channel.delta.ids.tolist() == [new.item_id]
    # It is searchable beside the main index: an exhaustive search returns it, merged in
    # score order with the version's own items.
    history = items.item_id[items.author_id == new.author_id][:10]
    state = UserStateData(known=True, recent_items=history.astype(np.int64), region=1)
    n = len(items) + 1
    out = asyncio.run(channel.retrieve(ChannelRequest(RequestContext(user_id=1, region=1), state, n, n, 0, 0)))
    assert len(out) == n and new.item_id in out.item_ids.tolist()
    assert len(np.unique(out.item_ids)) == len(out) and np.all(np.diff(out.scores) <= 1e-6)
