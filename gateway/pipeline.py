"""Recommend: user state -> recall -> rank -> rerank, within a deadline, degrading instead
of failing.

Every stage gets min(its budget, the time left); a stage that fails or runs out of time is
replaced by the next-best answer and named in `degraded`:
    state down  -> default (cold-start) state        "state_unavailable"
    recall down -> cached hot list                   "recall_unavailable"
    rank down   -> recall order                      "rank_unavailable"
    rerank down -> rank order, at most 2 per author  "rerank_unavailable"
Only the caller's own bad input is an error (raised before this module is reached).
An experiment assignment may override recall quotas, the ranker version and the rerank
policy. Active operations campaigns of the user's region reach rerank as the `operations`
slot pool and boosts. One run leaves a `Trace` that `explain` reads to say why an item is or
is not shown. `recommend` then hydrates the served page's display info and counts the
campaigns' delivered impressions, in one Redis round trip ("display"; when it fails the page
is served without display info, flagged "display_unavailable"); display info is cached in
process for `item_meta_ttl_s`, so a page of recently served items skips the round trip.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import redis.asyncio as aioredis

from core import metrics
from core.context import RequestContext
from core.items import ItemTable, positions
from core.rerank.campaigns import CampaignPlan, delivered_by_campaign, plan_campaigns
from core.store import item_meta
from core.store.campaigns import CampaignStore
from core.store.keys import Keys
from core.store.user_state import UserStateData, read_user_state
from core.versioned import Versioned
from gateway.campaigns import CampaignCache, now_ms
from gateway.clients import Ranked, Recalled, Reranked, StageClients
from gateway.experiments import Assignment
from gateway.fallback import HotFallback
from gateway.settings import GatewaySettings
from gateway.validation import RecommendInput

log = logging.getLogger(__name__)
RESERVE_S = 0.005  # kept back from the deadline to build the response
NO_EXPERIMENT = Assignment()


@dataclass
class FeedItem:
    item_id: int
    score: float
    channels: list[str]
    recall_position: int
    rank_position: int
    author_id: int
    category: int
    head_scores: dict[str, float]
    rerank_reason: str = ""
    meta: item_meta.ItemMeta = item_meta.ItemMeta()


@dataclass
class Feed:
    request_id: str
    items: list[FeedItem]
    models: list[tuple[str, str]]
    degraded: list[str]
    latencies_ms: dict[str, float] = field(default_factory=dict)
    experiment: str = ""


@dataclass
class Trace:
    """What each stage produced for one request (for Explain)."""

    state: UserStateData
    recalled: Recalled
    ranked: Ranked | None
    reranked: Reranked | None
    feed: Feed
    campaigns: CampaignPlan = field(default_factory=CampaignPlan)


@dataclass(frozen=True)
class Explanation:
    item_id: int
    verdict: str
    reason: str
    channels: list[str]
    recall_position: int
    rank_position: int
    feed_position: int
    experiment: str
    degraded: list[str]


class RecommendPipeline:
    def __init__(self, settings: GatewaySettings, clients: StageClients, redis: aioredis.Redis,
                 keys: Keys, fallback: HotFallback, items: Versioned[ItemTable],
                 campaigns: CampaignCache | None = None, item_meta_cache: item_meta.ItemMetaCache | None = None):
        self.s, self.clients, self.redis, self.keys = settings, clients, redis, keys
        self.fallback, self._items = fallback, items
        self.campaigns = campaigns or CampaignCache(CampaignStore(redis, keys))
        self.meta_cache = item_meta_cache or item_meta.ItemMetaCache(settings.item_meta_ttl_s)

    @property
    def items(self) -> ItemTable | None:
        """The live two-tower version's item table (followed; None before any version)."""
        return self._items.value

    def _timeout(self, budget_ms: float, deadline: float) -> float:
        return max(0.001, min(budget_ms / 1000.0, deadline - time.monotonic() - RESERVE_S))

    async def _stage(self, name: str, coro_fn, budget_ms: float, deadline: float, feed: Feed):
        """Run one stage; on failure record it as degraded and return None."""
        start = time.perf_counter()
        timeout = self._timeout(budget_ms, deadline)
        try:
            async with asyncio.timeout(timeout + 0.01):  # no extra task, unlike wait_for
                return await coro_fn(timeout)
        except Exception as err:  # any stage failure degrades; it never fails the request
            what = f"{name}_unavailable"
            feed.degraded.append(what)
            metrics.DEGRADED.labels(what).inc()
            log.warning("stage degraded", extra={"stage": name, "error": repr(err)[:200],
                                                 "request_id": feed.request_id,
                                                 "experiment": feed.experiment})
            return None
        finally:
            ms = (time.perf_counter() - start) * 1000
            feed.latencies_ms[name] = ms
            metrics.STAGE_LATENCY_MS.labels(name).observe(ms)

    async def run(self, inp: RecommendInput, client_deadline_s: float | None,
                  assignment: Assignment = NO_EXPERIMENT) -> Trace:
        start = time.perf_counter()
        budget = self.s.total_budget_ms / 1000.0
        if client_deadline_s is not None:
            budget = min(budget, client_deadline_s)
        deadline = time.monotonic() + budget
        feed = Feed(uuid.uuid4().hex[:16], [], [], [], experiment=assignment.id)

        state = await self._stage(
            "state", lambda t: read_user_state(self.redis, self.keys, inp.user_id),
            self.s.state_budget_ms, deadline, feed) or UserStateData()
        ctx = RequestContext(user_id=inp.user_id, region=inp.region or state.region,
                             device=inp.device, local_hour=inp.local_hour,
                             experiment=assignment.id, request_id=feed.request_id)

        recalled: Recalled | None = await self._stage(
            "recall", lambda t: self.clients.recall(ctx, state, self.s.recall_limit, t,
                                                    assignment.recall_quotas),
            self.s.recall_budget_ms, deadline, feed)
        if recalled is None or recalled.item_ids.size == 0:
            if recalled is not None:  # answered, but nothing survived: still a fallback
                feed.degraded.append("recall_empty")
            recalled = await self._fallback_candidates(state)

        ranked: Ranked | None = None
        if recalled.item_ids.size:
            ranked = await self._stage(
                "rank", lambda t: self.clients.rank(ctx, state, recalled.item_ids, self.s.rank_top_k,
                                                    t, assignment.rank_model_version),
                self.s.rank_budget_ms, deadline, feed)
        if ranked is not None:
            feed.models.extend(ranked.models)
            ids, scores = ranked.item_ids, ranked.scores
        else:
            ids = recalled.item_ids[: self.s.rank_top_k]
            scores = recalled.scores[: self.s.rank_top_k]

        reranked = None
        plan = plan_campaigns(self.campaigns.campaigns, ctx.region, now_ms(), state.seen_items)
        if ids.size:
            policy = assignment.rerank_policy or self.s.rerank_policy
            reranked = await self._stage(
                "rerank", lambda t: self.clients.rerank(ctx, ids, scores, inp.count, policy, t, state,
                                                        plan.boosts, plan.pool),
                self.s.rerank_budget_ms, deadline, feed)
        final_ids = reranked.item_ids if reranked is not None else self._simple_feed(ids, inp.count)
        feed.items = self._explain_items(final_ids, recalled, ranked, inp.debug)
        if reranked is not None:
            for item in feed.items:
                item.rerank_reason = reranked.reasons.get(item.item_id, "")
                if item.rerank_reason and item.item_id in plan.origin:
                    item.rerank_reason += f" campaign:{plan.origin[item.item_id]}"
        feed.latencies_ms["total"] = (time.perf_counter() - start) * 1000
        return Trace(state, recalled, ranked, reranked, feed, plan)

    async def recommend(self, inp: RecommendInput, client_deadline_s: float | None,
                        assignment: Assignment = NO_EXPERIMENT) -> Feed:
        return (await self.serve(inp, client_deadline_s, assignment)).feed

    async def serve(self, inp: RecommendInput, client_deadline_s: float | None,
                    assignment: Assignment = NO_EXPERIMENT) -> Trace:
        """`run`, then the served page's display info and campaign counts: what Recommend
        answers (the trace also feeds the impression log)."""
        start = time.perf_counter()
        budget = self.s.total_budget_ms / 1000.0
        deadline = time.monotonic() + (budget if client_deadline_s is None else min(budget, client_deadline_s))
        trace = await self.run(inp, client_deadline_s, assignment)
        feed = trace.feed
        delivered = {}  # without rerank no campaign acted on the feed
        if trace.reranked is not None:
            delivered = delivered_by_campaign(trace.campaigns, [i.item_id for i in feed.items],
                                              trace.reranked.reasons)
        metas = await self._stage("display", lambda t: self._finish_page(feed, delivered),
                                  self.s.display_budget_ms, deadline, feed)
        missing = 0
        for item in feed.items:
            meta = (metas or {}).get(item.item_id)
            if meta is None:
                missing += 1
            else:
                item.meta = meta
        if missing:
            metrics.ITEM_META_MISSING.inc(missing)
        feed.latencies_ms.pop("total", None)  # re-added last, now with the display stage
        feed.latencies_ms["total"] = (time.perf_counter() - start) * 1000
        return trace

    async def _finish_page(self, feed: Feed, delivered: dict[int, str]) -> dict[int, item_meta.ItemMeta]:
        """The page's display info and the campaigns' impression counts, one round trip, or
        none when every item's display info is cached and no campaign delivered."""
        metas, ids = self.meta_cache.split([i.item_id for i in feed.items])
        per_campaign: dict[str, int] = {}
        for campaign in delivered.values():
            per_campaign[campaign] = per_campaign.get(campaign, 0) + 1
        if not ids and not per_campaign:
            return metas
        async with self.redis.pipeline(transaction=False) as pipe:
            item_meta.queue_read(pipe, self.keys, ids)
            self.campaigns.store.queue_count(pipe, per_campaign)
            replies = await pipe.execute()
        if per_campaign:
            self.campaigns.count(dict(zip(per_campaign, (int(r) for r in replies[len(ids):]))))
        read = item_meta.parse_read(ids, replies[: len(ids)])
        self.meta_cache.store(ids, read)
        return metas | read

    async def explain(self, inp: RecommendInput, item_id: int, client_deadline_s: float | None,
                      assignment: Assignment = NO_EXPERIMENT) -> Explanation:
        trace = await self.run(inp, client_deadline_s, assignment)
        feed = trace.feed
        recall_ids = trace.recalled.item_ids.tolist()
        rank_ids = trace.ranked.item_ids.tolist() if trace.ranked else []
        feed_ids = [i.item_id for i in feed.items]
        rp = recall_ids.index(item_id) + 1 if item_id in recall_ids else 0
        kp = rank_ids.index(item_id) + 1 if item_id in rank_ids else 0
        fp = feed_ids.index(item_id) + 1 if item_id in feed_ids else 0
        channels = trace.recalled.channel_names(rp - 1) if rp else []
        if fp:
            verdict, reason = "shown", f"shown at position {fp}"
        elif not rp and self.items is not None and self.items.index_of([item_id])[0] < 0:
            # (videos published online are unknown to this table but may be recalled)
            verdict, reason = "unknown_item", "the item is not in the serving catalog"
        elif item_id in set(trace.state.seen_items.tolist()):
            verdict, reason = "filtered_seen", "removed by DropSeen (recall): the user has seen it"
        elif not rp:
            verdict, reason = "not_recalled", "no recall channel found it within its quota"
        elif not kp and trace.ranked is not None:
            verdict, reason = "cut_by_rank", (f"recalled at {rp}, but not among the top "
                                              f"{self.s.rank_top_k} after pre-rank and rank")
        else:
            why = trace.reranked.removed.get(item_id, "NotSelected") if trace.reranked else "rank order"
            verdict, reason = "removed_by_rerank", f"removed by {why} (rerank)"
        return Explanation(item_id, verdict, reason, channels, rp, kp, fp, feed.experiment, feed.degraded)

    def _simple_feed(self, ids: np.ndarray, count: int, per_author: int = 2) -> np.ndarray:
        """The feed when rerank cannot answer: rank order with a simple author cap."""
        if self.items is None:
            return ids[:count]
        idx = self.items.index_of(ids)
        authors = np.where(idx >= 0, self.items.author_id[np.maximum(idx, 0)], 0)
        taken: dict[int, int] = {}
        out = []
        for item, author in zip(ids.tolist(), authors.tolist()):
            if author and taken.get(author, 0) >= per_author:
                continue
            taken[author] = taken.get(author, 0) + 1
            out.append(item)
            if len(out) == count:
                break
        return np.asarray(out, dtype=np.int64)

    async def _fallback_candidates(self, state: UserStateData) -> Recalled:
        hot = await self.fallback.get()
        hot = hot[~np.isin(hot, state.seen_items)]
        n = hot.size
        return Recalled(hot, (1.0 / (60.0 + 1.0 + np.arange(n))).astype(np.float32),
                        np.ones(n, np.uint32), ["hot_fallback"], [])

    def _explain_items(self, ids: np.ndarray, recalled: Recalled, ranked: Ranked | None,
                       debug: bool) -> list[FeedItem]:
        recall_at = positions(recalled.item_ids, ids).tolist()
        rank_at = positions(ranked.item_ids, ids).tolist() if ranked else [-1] * ids.size
        authors = categories = np.zeros(ids.size, dtype=np.int64)
        if self.items is not None:  # one lookup for the whole feed
            idx = self.items.index_of(ids)
            safe = np.maximum(idx, 0)
            authors = np.where(idx >= 0, self.items.author_id[safe], 0)
            categories = np.where(idx >= 0, self.items.category[safe], 0)
        out = []
        for item, author, category, rp, kp in zip(ids.tolist(), authors.tolist(), categories.tolist(),
                                                  recall_at, rank_at):
            rp = rp if rp >= 0 else None
            kp = kp if kp >= 0 else None
            score = float(ranked.scores[kp]) if kp is not None else (
                float(recalled.scores[rp]) if rp is not None else 0.0)
            heads = ({h: float(ranked.head_scores[kp, j]) for j, h in enumerate(ranked.heads)}
                     if debug and kp is not None else {})
            out.append(FeedItem(item, score, recalled.channel_names(rp) if rp is not None else [],
                                rp + 1 if rp is not None else 0, kp + 1 if kp is not None else 0,
                                author, category, heads))
        return out
