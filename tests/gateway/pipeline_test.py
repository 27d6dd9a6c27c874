"""The gateway's Recommend pipeline with fake stage clients: every fallback and deadline path.

The stages are fakes (plain async methods returning the clients' dataclasses); the user state
comes from a real Redis under this test's key prefix, or from a Redis that does not answer.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from core.items import ItemTable
from core.store.keys import Keys
from core.versioned import Versioned
from dev.redis_server import free_port
from gateway.clients import Ranked, Recalled, Reranked
from gateway.experiments import Assignment, Experiment
from gateway.fallback import HotFallback
from gateway.pipeline import RecommendPipeline
from gateway.settings import GatewaySettings
from gateway.validation import RecommendInput

N = 60
ITEMS = ItemTable.from_columns(
    item_id=np.arange(1, N + 1, dtype=np.int64), author_id=(np.arange(N) // 3 + 1).astype(np.int64),
    category=(np.arange(N) % 4 + 1).astype(np.int64), duration_s=np.full(N, 10.0, np.float32),
    publish_ms=np.zeros(N, np.int64), region=np.ones(N, np.int64),
    log_pop=np.linspace(1, 0, N).astype(np.float32))
HOT = np.arange(N, N - 30, -1, dtype=np.int64)  # what the hot list holds: the last 30 ids


class Down(Exception):
    pass


class FakeStages:
    """Recall returns ids 1..40, rank keeps the top k reversed, rerank keeps `count` and drops
    item 2 by a rule. `fail` / `slow` name stages that raise / sleep past any budget."""

    def __init__(self, fail=(), slow=(), empty_recall=False):
        self.fail, self.slow, self.empty_recall = set(fail), set(slow), empty_recall
        self.calls: dict[str, dict] = {}

    async def _enter(self, stage: str, **args):
        self.calls[stage] = args
        if stage in self.fail:
            raise Down(stage)
        if stage in self.slow:
            await asyncio.sleep(5)

    async def recall(self, ctx, state, limit, timeout, quotas=None) -> Recalled:
        await self._enter("recall", timeout=timeout, quotas=quotas, state=state)
        ids = np.zeros(0, np.int64) if self.empty_recall else np.arange(1, 41, dtype=np.int64)
        ids = ids[~np.isin(ids, state.seen_items)]
        return Recalled(ids, np.linspace(1, 0, ids.size).astype(np.float32),
                        np.full(ids.size, 0b01, np.uint32), ["two_tower", "hot"], [])

    async def rank(self, ctx, state, item_ids, top_k, timeout, version="") -> Ranked:
        await self._enter("rank", timeout=timeout, item_ids=item_ids, version=version)
        ids = item_ids[:top_k][::-1].copy()
        return Ranked(ids, np.linspace(1, 0, ids.size).astype(np.float32), ["like", "complete"],
                      np.full((ids.size, 2), 0.5, np.float32), version or "v0001",
                      [("ranker", version or "v0001"), ("prerank", "v0001")])

    async def rerank(self, ctx, item_ids, scores, count, policy, timeout, state=None, boosts=None,
                     operations=None) -> Reranked:
        await self._enter("rerank", timeout=timeout, item_ids=item_ids, policy=policy)
        keep = item_ids[item_ids != 2][:count]
        return Reranked(keep, np.linspace(1, 0, keep.size).astype(np.float32), policy or "default",
                        {int(keep[0]): "moved:SpreadCategories"}, {2: "DropBlockedItems"})


class FakeHot:
    def __init__(self, fail=False):
        self.fail = fail

    async def scope_list(self, scope, now_ms):
        if self.fail:
            raise Down("hot")
        return HOT.copy(), np.linspace(1, 0, HOT.size).astype(np.float32)


def settings(**kw) -> GatewaySettings:
    return GatewaySettings(rank_top_k=20, **kw)


@dataclass
class Store:
    client: aioredis.Redis
    keys: Keys
    url: str = ""

    def seen(self, user: int, *items: int) -> None:
        with sync_redis.Redis.from_url(self.url) as client:  # the async client is the pipeline's
            client.zadd(self.keys.seen(user), {item: 1 for item in items})  # member -> time seen


def pipeline(store: Store, stages, items=ITEMS, hot=None, **kw) -> RecommendPipeline:
    return RecommendPipeline(settings(**kw), stages, store.client, store.keys,
                             HotFallback(hot or FakeHot(), items), Versioned.fixed(items))


@pytest.fixture
def redis_client(redis_url, keys):
    """The user state on a real Redis, under this test's prefix."""
    return Store(aioredis.Redis.from_url(redis_url), keys, redis_url)


@pytest.fixture
def dead_redis(keys):
    """A Redis that does not answer."""
    return Store(aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.2,
                                         socket_connect_timeout=0.2), keys)


def run(p: RecommendPipeline, count=10, deadline=None, assignment=Assignment(), user=7, debug=True):
    return asyncio.run(p.run(RecommendInput(user_id=user, count=count, debug=debug), deadline, assignment))


def ids(trace) -> list[int]:
    return [i.item_id for i in trace.feed.items]


def test_every_stage_answers(redis_client):
    stages = FakeStages()
    trace = run(pipeline(redis_client, stages))
    assert trace.feed.degraded == []
    expected = [i for i in range(20, 0, -1) if i != 2][:10]  # rank's order, rerank's cut
    assert ids(trace) == expected
    first = trace.feed.items[0]
    assert first.rerank_reason == "moved:SpreadCategories"
    assert first.channels == ["two_tower"] and first.recall_position == 20 and first.rank_position == 1
    assert first.head_scores == {"like": 0.5, "complete": 0.5}  # debug on
    assert first.author_id == ITEMS.author_id[19] and first.category == ITEMS.category[19]
    assert ("ranker", "v0001") in trace.feed.models
    assert set(trace.feed.latencies_ms) >= {"state", "recall", "rank", "rerank", "total"}


def test_state_down_serves_the_cold_start_state(dead_redis):
    trace = run(pipeline(dead_redis, FakeStages()))
    assert trace.feed.degraded == ["state_unavailable"]
    assert not trace.state.known and len(trace.feed.items) == 10


def test_seen_items_reach_recall_from_the_state(redis_client):
    redis_client.seen(7, 1, 2, 3)
    stages = FakeStages()
    trace = run(pipeline(redis_client, stages))
    assert set(stages.calls["recall"]["state"].seen_items.tolist()) == {1, 2, 3}
    assert not {1, 2, 3} & set(ids(trace))


@pytest.mark.parametrize("kind", ["fail", "slow"])
def test_recall_down_serves_the_hot_list_minus_seen(redis_client, kind):
    redis_client.seen(7, int(HOT[0]))
    stages = FakeStages(**{kind: ["recall"]})
    trace = run(pipeline(redis_client, stages, recall_budget_ms=30))
    assert trace.feed.degraded == ["recall_unavailable"]
    assert trace.recalled.channels == ["hot_fallback"]
    assert int(HOT[0]) not in trace.recalled.item_ids
    assert set(stages.calls["rank"]["item_ids"].tolist()) <= set(HOT.tolist())


def test_empty_recall_is_flagged_and_falls_back(redis_client):
    trace = run(pipeline(redis_client, FakeStages(empty_recall=True)))
    assert trace.feed.degraded == ["recall_empty"]
    assert set(ids(trace)) <= set(HOT.tolist()) and len(ids(trace)) == 10


def test_recall_and_hot_list_both_down_serve_the_catalogs_most_popular(redis_client):
    trace = run(pipeline(redis_client, FakeStages(fail=["recall"]), hot=FakeHot(fail=True)))
    assert trace.feed.degraded == ["recall_unavailable"]
    assert trace.recalled.item_ids[:5].tolist() == [1, 2, 3, 4, 5]  # by log_pop


@pytest.mark.parametrize("kind", ["fail", "slow"])
def test_rank_down_sends_recall_order_to_rerank(redis_client, kind):
    stages = FakeStages(**{kind: ["rank"]})
    trace = run(pipeline(redis_client, stages, rank_budget_ms=30))
    assert trace.feed.degraded == ["rank_unavailable"]
    assert stages.calls["rerank"]["item_ids"].tolist() == list(range(1, 21))  # recall's top k
    assert trace.feed.models == [] and trace.feed.items[0].head_scores == {}


@pytest.mark.parametrize("kind", ["fail", "slow"])
def test_rerank_down_serves_rank_order_with_an_author_cap(redis_client, kind):
    trace = run(pipeline(redis_client, FakeStages(**{kind: ["rerank"]}), rerank_budget_ms=30))
    assert trace.feed.degraded == ["rerank_unavailable"]
    feed = ids(trace)
    authors = ITEMS.author_id[ITEMS.index_of(np.asarray(feed))]
    assert len(feed) == 10 and np.bincount(authors).max() <= 2
    assert feed[0] == 20  # rank's first
    assert all(i.rerank_reason == "" for i in trace.feed.items)


def test_rerank_down_without_an_item_table_serves_plain_rank_order(redis_client):
    p = RecommendPipeline(settings(), FakeStages(fail=["rerank"]), redis_client.client, redis_client.keys,
                          HotFallback(FakeHot(), None), Versioned.fixed(None))
    trace = asyncio.run(p.run(RecommendInput(user_id=7, count=5, debug=False), None))
    assert ids(trace) == [20, 19, 18, 17, 16]
    assert trace.feed.items[0].author_id == 0


def test_everything_down_still_answers(dead_redis):
    trace = run(pipeline(dead_redis, FakeStages(fail=["recall", "rank", "rerank"])))
    assert trace.feed.degraded == ["state_unavailable", "recall_unavailable", "rank_unavailable",
                                   "rerank_unavailable"]
    assert len(trace.feed.items) == 10


def test_a_client_deadline_shorter_than_the_budget_bounds_every_stage(redis_client):
    stages = FakeStages(slow=["rank"])
    trace = run(pipeline(redis_client, stages), deadline=0.15)
    assert "rank_unavailable" in trace.feed.degraded
    for stage in ("recall", "rank", "rerank"):
        assert stages.calls[stage]["timeout"] <= 0.15
    # rerank ran after rank used up its share, so it got what was left, not its full budget
    assert stages.calls["rerank"]["timeout"] < settings().rerank_budget_ms / 1000


def test_an_experiment_overrides_quotas_version_and_policy(redis_client):
    stages = FakeStages()
    arm = Assignment((Experiment(id="b", layer="exp", percent=50, recall_quotas={"hot": 5},
                                 rank_model_version="v0009", rerank_policy="dpp"),))
    trace = run(pipeline(redis_client, stages), assignment=arm)
    assert stages.calls["recall"]["quotas"] == {"hot": 5}
    assert stages.calls["rank"]["version"] == "v0009"
    assert stages.calls["rerank"]["policy"] == "dpp"
    assert trace.feed.experiment == "exp:b" and ("ranker", "v0009") in trace.feed.models


@pytest.mark.parametrize("item, verdict", [
    (20, "shown"), (2, "removed_by_rerank"), (35, "cut_by_rank"), (45, "not_recalled"),
    (1, "filtered_seen"), (999, "unknown_item")])
def test_explain_says_where_an_item_fell_out(redis_client, item, verdict):
    redis_client.seen(7, 1)
    p = pipeline(redis_client, FakeStages())
    got = asyncio.run(p.explain(RecommendInput(user_id=7, count=10, debug=False), item, None))
    assert got.verdict == verdict
    if verdict == "removed_by_rerank":
        assert "DropBlockedItems" in got.reason
    if verdict == "shown":
        assert got.feed_position >= 1 and got.channels == ["two_tower"]


@pytest.mark.parametrize("ttl_s", [30.0, 0.0])
def test_display_info_is_cached_in_process_for_its_ttl(redis_client, ttl_s):
    """The second page of the same items is served from the gateway's cache (a deleted hash
    does not show until the TTL ends); with ttl 0 every page reads Redis."""
    from core.store.item_meta import ItemMeta
    with sync_redis.Redis.from_url(redis_client.url) as client:
        for item in range(1, 41):
            client.hset(redis_client.keys.item_meta(item), mapping=ItemMeta(f"video {item}").to_mapping())
        p = pipeline(redis_client, FakeStages(), item_meta_ttl_s=ttl_s)

        async def pages():  # one event loop: the pipeline's Redis client is bound to it
            first = (await p.serve(RecommendInput(user_id=7, count=10, debug=False), None)).feed
            client.delete(redis_client.keys.item_meta(first.items[0].item_id))
            return first, (await p.serve(RecommendInput(user_id=7, count=10, debug=False), None)).feed

        first, second = asyncio.run(pages())
    assert first.items[0].meta.title == f"video {first.items[0].item_id}"
    assert second.degraded == []
    assert second.items[0].meta.title == (first.items[0].meta.title if ttl_s else "")
