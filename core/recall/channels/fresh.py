"""Fresh channel: a small exploration share for uploads younger than `max_age_h`.

A new video has no engagement yet, so hot and item-CF cannot find it and the two-tower
knows it only from metadata. This channel gives every young upload a chance: it samples
`fetch` of them without replacement, newer ones more likely (weight halves every
`half_life_h`), with a random stream seeded by user and minute, so different users explore
different videos and one user's feed is stable within a minute. Items from the user's
region are favoured by `region_boost` (a multiplier on the weight).

The exploration share is the quota, not the fetch: the pipeline's seen headroom (fetch =
quota + the user's seen-set size) suits channels whose best items the seen filter may remove,
but a random sample has no "best" to protect, and with the headroom this channel sent every
young upload down the funnel (measured in the learning loop with the world's ~250 uploads a
day: 88% of the shown items by the fourth day, at about half the relevance of the day-1 feed). It drops the user's
seen items itself and samples `quota` of the rest.
"""
from __future__ import annotations

import numpy as np

from core.recall.channels.base import Channel, ChannelRequest, ChannelResult
from core.recall.live_catalog import LiveCatalog

HOUR_MS = 3_600_000


class FreshChannel(Channel):
    name = "fresh"

    def __init__(self, catalog: LiveCatalog, max_age_h: float = 48.0, half_life_h: float = 12.0,
                 region_boost: float = 2.0, max_pool: int = 20_000):
        self.catalog = catalog
        self.max_age_h, self.half_life_h = max_age_h, half_life_h
        self.region_boost, self.max_pool = region_boost, max_pool

    async def retrieve(self, request: ChannelRequest) -> ChannelResult:
        now = request.catalog_now_ms
        ids, times = self.catalog.published_since(now - int(self.max_age_h * HOUR_MS), self.max_pool)  # newest first
        keep = self.catalog.available(ids) & ~np.isin(ids, request.state.seen_items)
        ids, times = ids[keep], times[keep]
        if ids.size == 0:
            return ChannelResult.empty()
        age_h = np.maximum(now - times, 0) / HOUR_MS
        log_w = -np.log(2.0) * age_h / self.half_life_h
        region = request.context.region or request.state.region
        if region and self.region_boost != 1.0:
            base = self.catalog.base
            idx = base.index_of(ids)
            same = (idx >= 0) & (base.region[np.maximum(idx, 0)] == region)
            log_w = log_w + np.log(self.region_boost) * same
        # Weighted sampling without replacement: top-k of log-weight + Gumbel noise.
        rng = np.random.default_rng([request.context.user_id, now // 60_000])
        keys = log_w + rng.gumbel(size=ids.size)
        k = min(request.quota, ids.size)
        top = np.argpartition(-keys, k - 1)[:k] if k < ids.size else np.arange(ids.size)
        top = top[np.argsort(-keys[top], kind="stable")]
        # Score: the sampled key relative to the best one, so scores descend in (0, 1].
        return ChannelResult(ids[top], np.exp(keys[top] - keys[top[0]]).astype(np.float32))
