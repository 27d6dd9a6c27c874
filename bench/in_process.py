"""The same work as the four services, in one process: the gateway's own `RecommendPipeline`
(state read, experiments, campaigns, stage deadlines, explanations, display info, the
impression log) over stages called directly instead of over gRPC. Each local stage does what
its servicer does after converting the request: recall's pipeline, rank's model slots and
`scoring.score`, rerank's `core.rerank.request.rerank`. What the stack costs on top of this is
the hops, the protobuf conversions at each edge and the services' interceptors (#21).

`bench/e2e.py` times it as `inproc_p50_ms`, next to the older step-by-step loop (`in_process`
there: the funnel's steps without the gateway's glue).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import redis.asyncio as aioredis

from core.context import RequestContext
from core.items import ItemTable
from core.rank import scoring
from core.rank.model_store import ModelSlot
from core.rank.online_items import OnlineItems
from core.recall.channels.hot import HotChannel
from core.recall.pipeline import RecallPipeline
from core.registry.reader import Registry
from core.rerank.candidates import ItemSide
from core.rerank.policies import build_policies, choose
from core.rerank.request import rerank
from core.store.clock import CatalogClock
from core.store.impressions import ImpressionLog
from core.store.keys import Keys
from core.store.user_state import UserStateData
from core.versioned import Versioned
from gateway.clients import Ranked, Recalled, Reranked
from gateway.experiments import Experiments
from gateway.fallback import HotFallback
from gateway.impressions import impression_of
from gateway.pipeline import RecommendPipeline, Trace
from gateway.settings import GatewaySettings
from gateway.validation import RecommendInput
from services.recall.__main__ import build_pipeline
from services.recall.settings import RecallSettings


class LocalStages:
    """`gateway.clients.StageClients`' three calls, answered in process (timeouts unused)."""

    def __init__(self, recall: RecallPipeline, ranker: ModelSlot, prerank: ModelSlot | None, side: ItemSide,
                 clock: CatalogClock, prerank_keep: int = 200):
        self.recall_pipeline, self.ranker, self.prerank, self.side = recall, ranker, prerank, side
        self.clock, self.prerank_keep = clock, prerank_keep
        self.online = OnlineItems()  # as the rank service's (empty here: no uploads)
        self.policies = build_policies()

    async def recall(self, ctx: RequestContext, state: UserStateData, limit: int, timeout: float,
                     quotas: dict[str, int] | None = None) -> Recalled:
        result = await self.recall_pipeline.retrieve(ctx, state, quotas or {}, limit)
        c = result.candidates
        return Recalled(c.item_ids, c.scores, c.channel_mask, list(result.channels), list(result.channel_stats))

    async def rank(self, ctx: RequestContext, state: UserStateData, item_ids: np.ndarray, top_k: int,
                   timeout: float, version: str = "") -> Ranked:
        ranker = await self.ranker.get(ctx.user_id, version)
        prerank = self.prerank.route(ctx.user_id) if self.prerank is not None else None
        await self.clock.refresh()
        r = scoring.score(ctx, state, item_ids, self.clock.now_ms(), ranker, prerank, self.prerank_keep, top_k,
                          self.online, self.clock.offset_ms)
        models = [("ranker", ranker.version)] + ([("prerank", prerank.version)] if r.prerank_ran else [])
        return Ranked(r.item_ids, r.fused, list(ranker.heads), r.heads, ranker.version, models)

    async def rerank(self, ctx: RequestContext, item_ids: np.ndarray, scores: np.ndarray, count: int,
                     policy: str, timeout: float, state: UserStateData | None = None,
                     boosts: dict[int, float] | None = None, operations: list[int] | None = None) -> Reranked:
        chosen = choose(self.policies, policy, ctx.experiment)
        await self.clock.refresh()
        out = rerank(self.side, chosen, item_ids, scores.astype(np.float32), count, self.clock.now_ms(),
                     boosts=boosts, session_items=state.session_items if state is not None else None,
                     pools={"operations": operations} if operations else None)
        res = out.result
        feed = np.asarray(res.feed, dtype=np.int64)
        reasons = {int(out.item_ids[c.row]): f"{c.kind.name.lower()}:{c.reason}" for c in res.changes}
        return Reranked(out.item_ids[feed], out.scores[feed], chosen.name, reasons,
                        dict(zip(item_ids[res.removed_rows].tolist(), res.removed_reasons)))


async def build(registry: Path, redis_url: str, prefix: str) -> tuple[RecommendPipeline, Experiments,
                                                                        ImpressionLog, aioredis.Redis]:
    """The gateway's pipeline over `LocalStages`, wired as gateway/__main__.py wires it."""
    client = aioredis.Redis.from_url(redis_url)
    keys = Keys(prefix)
    reg = Registry(registry)
    recall = build_pipeline(RecallSettings(registry_dir=registry, redis_url=redis_url, redis_prefix=prefix), client)
    ranker = ModelSlot(reg, "ranker")
    prerank = ModelSlot(reg, "prerank") if reg.aliases("prerank").get("live") else None
    for slot in filter(None, (ranker, prerank)):
        await slot.sync(force=True)
    tt = reg.open("two_tower")
    items = ItemTable.load(tt.file("items.npz"))
    side = ItemSide(items, np.load(tt.file("item_vectors.npy"), allow_pickle=False))
    stages = LocalStages(recall, ranker, prerank, side, CatalogClock(client, keys))
    settings = GatewaySettings()
    pipeline = RecommendPipeline(settings, stages, client, keys, HotFallback(HotChannel(client, keys), items),
                                 Versioned.fixed(items))
    return pipeline, Experiments(), ImpressionLog(client, keys), client


async def recommend(pipeline: RecommendPipeline, experiments: Experiments, impressions: ImpressionLog,
                    user_id: int, count: int = 20) -> Trace:
    """One Recommend as the gateway's servicer runs it, without the proto edges."""
    inp = RecommendInput(user_id=user_id, count=count, debug=False)
    trace = await pipeline.serve(inp, None, experiments.assign(user_id))
    impressions.record(impression_of(inp, trace))
    return trace


class Timings:
    """Recommend latencies, the pipeline's own stage timings and the CPU they took, summed over runs."""

    def __init__(self):
        self.samples: list[float] = []
        self.stages: dict[str, list[float]] = {}
        self.cpu_s = 0.0
        self.degraded: dict[str, int] = {}  # requests not timed: a stage failed or ran out of time

    def summary(self) -> dict:
        n = max(len(self.samples), 1)
        return {"p50_ms": round(float(np.percentile(self.samples, 50)), 3),
                "p99_ms": round(float(np.percentile(self.samples, 99)), 3), "requests": len(self.samples),
                "cpu_ms_per_request": round(1000 * self.cpu_s / n, 3),
                "stages_mean_ms": {k: round(float(np.mean(v)), 3) for k, v in self.stages.items()},
                "degraded": dict(self.degraded)}


class SameWork:
    """The pipeline built once (`open`), then run for a while at a time (`run`), one Recommend
    after the other, users drawn by `p`: so that a benchmark can take turns with the stack."""

    def __init__(self, registry: Path, redis_url: str, prefix: str, users: np.ndarray, p: np.ndarray, seed: int = 0):
        self.args, self.users, self.p = (registry, redis_url, prefix), users, p
        self.rng = np.random.default_rng(seed)

    async def open(self) -> SameWork:
        self.pipeline, self.experiments, self.impressions, self.client = await build(*self.args)
        return self

    async def close(self) -> None:
        await self.impressions.drain()
        await self.client.aclose()

    async def run(self, out: Timings, requests: int = 1 << 30, seconds: float = float("inf")) -> Timings:
        deadline = time.monotonic() + seconds
        cpu0 = time.process_time()
        for _ in range(requests):
            if time.monotonic() >= deadline:
                break
            user = int(self.rng.choice(self.users, p=self.p))
            t0 = time.perf_counter()
            trace = await recommend(self.pipeline, self.experiments, self.impressions, user)
            if trace.feed.degraded:  # not the same work: counted, not timed (as the load client counts errors)
                for what in trace.feed.degraded:
                    out.degraded[what] = out.degraded.get(what, 0) + 1
                continue
            out.samples.append((time.perf_counter() - t0) * 1000)
            for name, ms in trace.feed.latencies_ms.items():
                out.stages.setdefault(name, []).append(ms)
        out.cpu_s += time.process_time() - cpu0
        return out
