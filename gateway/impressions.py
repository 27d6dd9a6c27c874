"""From one served request (the pipeline's Trace) to its impression-log entry."""
from __future__ import annotations

import time

import numpy as np

from core.store.impressions import Impression
from gateway.pipeline import Trace
from gateway.validation import RecommendInput


def impression_of(inp: RecommendInput, trace: Trace) -> Impression:
    """What the user was shown, with every stage's position and score and the features the
    request carried (so the dataset job uses what was served, not a later profile)."""
    feed, state = trace.feed, trace.state
    items = [i.item_id for i in feed.items]
    # The feed items carry their 1-based recall and rank positions (0 = not there): read the
    # scores by position, not through a map of the ~1000 recalled ids.
    recall_scores = trace.recalled.scores
    ranked = trace.ranked
    followed = set(state.followed_authors.tolist())
    rank_scores: list[float | None] = [None] * len(items)
    head_scores = []
    if ranked is not None:
        rows = [i.rank_position - 1 for i in feed.items]
        rank_scores = [float(ranked.scores[r]) if r >= 0 else None for r in rows]
        if np.size(ranked.head_scores):
            head_scores = [ranked.head_scores[r].tolist() if r >= 0 else [None] * len(ranked.heads) for r in rows]
    return Impression(
        request_id=feed.request_id, user_id=inp.user_id, ts_ms=int(time.time() * 1000), item_ids=items,
        experiment=feed.experiment, models=dict(feed.models), region=inp.region or state.region,
        device=inp.device, hour=inp.local_hour, age_bucket=state.age_bucket, gender=state.gender,
        degraded=list(feed.degraded), recall_pos=[i.recall_position for i in feed.items],
        rank_pos=[i.rank_position for i in feed.items],
        follows=[int(i.author_id in followed) for i in feed.items],
        channels=[i.channels for i in feed.items],
        recall_scores=[float(recall_scores[i.recall_position - 1]) if i.recall_position else None for i in feed.items],
        rank_scores=rank_scores,
        heads=list(ranked.heads) if head_scores else [], head_scores=head_scores,
        latency_ms=feed.latencies_ms.get("total", 0.0))
