"""Follow, fresh and region channels on hand-made catalogs."""
import asyncio

import numpy as np

from core.context import RequestContext
from core.recall.channels.base import ChannelRequest
from core.recall.channels.follow import FollowChannel
from core.recall.channels.fresh import FreshChannel
from core.recall.channels.region import RegionChannel
from core.recall.live_catalog import LiveCatalog
from core.recall.live_catalog_test import H, item, table
from core.recall.region_table import RegionTable
from core.store.user_state import UserStateData


def request(state: UserStateData, fetch: int, now_h: float, user: int = 1, region: int = 0) -> ChannelRequest:
    return ChannelRequest(RequestContext(user, region), state, fetch, fetch, 0, int(now_h * H))


def run(channel, req):
    return asyncio.run(channel.retrieve(req))


def test_follow_returns_followed_authors_uploads_newest_first_and_sees_new_ones_at_once():
    cat = LiveCatalog(table([1, 2, 3, 4], [7, 8, 9, 7], [10, 20, 30, 40]))
    ch = FollowChannel(cat, window_h=100)
    state = UserStateData(followed_authors=np.array([7, 9]))
    assert run(ch, request(state, 10, 50)).item_ids.tolist() == [4, 3, 1]
    cat.publish([item(77, 9, 49)])
    cat.remove([4])
    out = run(ch, request(state, 2, 50))
    assert out.item_ids.tolist() == [77, 3]
    assert np.all(np.diff(out.scores) <= 0)
    assert len(run(ch, request(UserStateData(), 10, 50))) == 0


def test_fresh_samples_only_young_uploads_differently_per_user_and_stably_per_minute():
    n = 400
    cat = LiveCatalog(table(list(range(1, n + 1)), [1] * n, list(range(n))))
    ch = FreshChannel(cat, max_age_h=100, half_life_h=20)
    a = run(ch, request(UserStateData(), 30, n, user=1))
    assert len(a) == 30 and len(set(a.item_ids.tolist())) == 30
    assert a.item_ids.min() > n - 100  # only uploads younger than max_age_h
    assert a.item_ids.tolist() == run(ch, request(UserStateData(), 30, n, user=1)).item_ids.tolist()
    b = run(ch, request(UserStateData(), 30, n, user=2))
    assert a.item_ids.tolist() != b.item_ids.tolist()
    # Newer uploads are favoured: over many users, the sample's mean age is under the pool's.
    ages = np.concatenate([n - run(ch, request(UserStateData(), 30, n, user=u)).item_ids for u in range(50)])
    assert ages.mean() < 45


def test_region_answers_cold_users_only():
    items = table([10, 11, 12, 13], [1, 1, 1, 1], [0, 0, 0, 0])
    regions = RegionTable(np.array([1, 2]), np.array([0, 2, 4]), np.array([3, 0, 1, 2]),
                          np.array([5.0, 4.0, 3.0, 1.0], np.float32))
    ch = RegionChannel(regions, items, max_history=3)
    cold = UserStateData(recent_items=np.array([10]), region=2)
    assert run(ch, request(cold, 10, 0)).item_ids.tolist() == [11, 12]
    assert run(ch, request(cold, 10, 0, region=1)).item_ids.tolist() == [13, 10]  # context region wins
    warm = UserStateData(recent_items=np.array([10, 11, 12]), region=2)
    assert len(run(ch, request(warm, 10, 0))) == 0
    assert len(run(ch, request(UserStateData(region=9), 10, 0))) == 0


def test_fresh_explores_its_quota_of_unseen_uploads_whatever_the_seen_headroom():
    n = 400
    cat = LiveCatalog(table(list(range(1, n + 1)), [1] * n, list(range(n))))
    ch = FreshChannel(cat, max_age_h=100, half_life_h=20)
    seen = np.arange(n - 20, n + 1)
    req = ChannelRequest(RequestContext(1, 0), UserStateData(seen_items=seen), 30, 30 + seen.size, 0, n * H)
    out = run(ch, req)
    assert len(out) == 30 and not np.isin(out.item_ids, seen).any()
