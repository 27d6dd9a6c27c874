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

from services.common.context import RequestContext
from services.common.registry import Registry
from services.common.user_state import UserStateData
from services.recall.channels.base import ChannelRequest
from services.recall.registry import FACTORIES, Resources, build_channels
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
            [channel] = build_channels([name], Resources(client, keys, Registry(artifacts[1])))
            request = ChannelRequest(RequestContext(user_id=1, region=1), state, fetch, fetch,
                                     int(time.time() * 1000))
            return await channel.retrieve(request)
        finally:
            await client.aclose()
    return asyncio.run(go())


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("fetch", [1, 50, 400])
def test_channel_contract(name, fetch, loaded, world, redis_url, keys):
    items = world.impressions["item_id"][world.impressions["user_id"] == 1]
    state = UserStateData(known=True, recent_items=items[::-1][:30].astype(np.int64),
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
