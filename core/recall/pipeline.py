"""The recall pipeline: channels in parallel -> merge with provenance -> filters -> cut.

Each channel runs under its own timeout; a channel that is slow or fails is skipped and
reported (never failing the request). When every channel failed or found nothing, the
fallback list (the catalog's most popular videos) answers, flagged. Quotas come from
configuration and may be overridden per request.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import numpy as np

from core import metrics
from core.context import RequestContext
from core.errors import InvalidArgument
from core.filter import Filter
from core.recall.channels.base import Channel, ChannelRequest, ChannelResult
from core.recall.filters import apply_filter
from core.recall.merge import Merged, merge
from core.store.clock import CatalogClock
from core.store.user_state import UserStateData

log = logging.getLogger(__name__)
MAX_QUOTA = 5000
MAX_LIMIT = 5000


@dataclass(frozen=True)
class ChannelConfig:
    quota: int
    timeout_ms: float
    weight: float = 1.0


@dataclass(frozen=True)
class ChannelStat:
    channel: str
    returned: int
    latency_ms: float
    timed_out: bool = False
    error: str = ""


@dataclass(frozen=True)
class RecallResult:
    candidates: Merged
    channels: list[str]          # bit position -> channel name
    channel_stats: list[ChannelStat]
    filter_stats: list[tuple[str, int]]
    fallback: bool = False       # every channel failed or was empty: the fallback list answered


class RecallPipeline:
    def __init__(self, channels: list[Channel], configs: dict[str, ChannelConfig],
                 filters: list[Filter], default_limit: int = 1000,
                 fallback_ids: np.ndarray | None = None, clock: CatalogClock | None = None):
        missing = [c.name for c in channels if c.name not in configs]
        if missing:
            raise ValueError(f"no configuration for channels {missing}")
        self.channels = channels
        self.configs = configs
        self.filters = filters
        self.default_limit = default_limit
        self.names = [c.name for c in channels]
        self.fallback_ids = np.zeros(0, np.int64) if fallback_ids is None else fallback_ids
        self.clock = clock or CatalogClock(None, None)

    def resolve_quotas(self, overrides: dict[str, int]) -> dict[str, int]:
        quotas = {name: self.configs[name].quota for name in self.names}
        for i, (name, quota) in enumerate(overrides.items()):
            if name not in quotas:
                raise InvalidArgument(f"quotas[{i}].channel", f"unknown channel {name!r}; "
                                      f"known: {', '.join(self.names)}")
            if not 0 <= quota <= MAX_QUOTA:
                raise InvalidArgument(f"quotas[{i}].quota", f"must be 0..{MAX_QUOTA}, got {quota}")
            quotas[name] = quota
        return quotas

    async def _run(self, channel: Channel, request: ChannelRequest) -> tuple[ChannelResult, ChannelStat]:
        start = time.perf_counter()
        timeout = self.configs[channel.name].timeout_ms / 1000.0
        result, timed_out, error = ChannelResult.empty(), False, ""
        try:
            result = await asyncio.wait_for(channel.retrieve(request), timeout)
        except TimeoutError:
            timed_out = True
            metrics.CHANNEL_FAILURES.labels(channel.name, "timeout").inc()
        except Exception as err:  # a broken channel is skipped, never fatal
            error = type(err).__name__
            metrics.CHANNEL_FAILURES.labels(channel.name, "error").inc()
            log.warning("channel failed", extra={"channel": channel.name, "error": repr(err),
                                                 "request_id": request.context.request_id})
        ms = (time.perf_counter() - start) * 1000
        metrics.CHANNEL_LATENCY_MS.labels(channel.name).observe(ms)
        metrics.CHANNEL_CANDIDATES.labels(channel.name).inc(len(result))
        return result, ChannelStat(channel.name, len(result), ms, timed_out, error)

    async def retrieve(self, context: RequestContext, state: UserStateData,
                       quotas: dict[str, int] | None = None, limit: int = 0) -> RecallResult:
        if not 0 <= limit <= MAX_LIMIT:
            raise InvalidArgument("limit", f"must be 0..{MAX_LIMIT}, got {limit}")
        limit = limit or self.default_limit
        quotas = self.resolve_quotas(quotas or {})
        await self.clock.refresh()
        now_ms, catalog_now_ms = int(time.time() * 1000), self.clock.now_ms()
        active = [c for c in self.channels if quotas[c.name] > 0]
        headroom = int(state.seen_items.size)
        runs = await asyncio.gather(*(
            self._run(c, ChannelRequest(context, state, quotas[c.name],
                                        quotas[c.name] + headroom, now_ms, catalog_now_ms))
            for c in active))
        bit = {name: i for i, name in enumerate(self.names)}
        merged = merge([(bit[c.name], r.item_ids) for c, (r, _) in zip(active, runs)],
                       [self.configs[c.name].weight for c in active])
        fallback = len(merged) == 0 and self.fallback_ids.size > 0
        if fallback:  # provenance 0: found by no channel
            metrics.RECALL_FALLBACKS.inc()
            merged = merge([(0, self.fallback_ids[: limit + headroom])])
            merged = Merged(merged.item_ids, merged.scores, np.zeros_like(merged.channel_mask))
        filter_stats = []
        for f in self.filters:
            out = apply_filter(f, merged, state)
            merged = out.kept
            filter_stats.append((f.name, int(out.removed.size)))
        return RecallResult(merged.take(slice(0, limit)), self.names,
                            [stat for _, stat in runs], filter_stats, fallback)
