"""Follow channel: new uploads of the authors the user follows, newest first.

Reads the user's follows from the request state and the uploads from the live catalog in
memory (the model version's items plus videos published online, which the catalog follower
applies within milliseconds of the publish), so a followed author's new video is
recallable within a second. Score = 1 / (1 + age in hours).
"""
from __future__ import annotations

import numpy as np

from core.recall.channels.base import Channel, ChannelRequest, ChannelResult
from core.recall.live_catalog import LiveCatalog

HOUR_MS = 3_600_000


class FollowChannel(Channel):
    name = "follow"

    def __init__(self, catalog: LiveCatalog, window_h: float = 7 * 24, max_authors: int = 200,
                 per_author: int = 20):
        self.catalog = catalog
        self.window_h, self.max_authors, self.per_author = window_h, max_authors, per_author

    async def retrieve(self, request: ChannelRequest) -> ChannelResult:
        authors = request.state.followed_authors[: self.max_authors]
        if authors.size == 0:
            return ChannelResult.empty()
        now = request.catalog_now_ms
        ids, times = self.catalog.uploads(authors, now - int(self.window_h * HOUR_MS), self.per_author)
        keep = self.catalog.available(ids)
        ids, times = ids[keep][: request.fetch], times[keep][: request.fetch]
        age_h = np.maximum(now - times, 0) / HOUR_MS
        return ChannelResult(ids, (1.0 / (1.0 + age_h)).astype(np.float32))
