"""BoostItems: operations multiply chosen items' relevance by a factor, bounded to
[1 / max_boost, max_boost] so a campaign can lift an item but not bury the feed's relevance.
Relevance is measured above 0, or above the lowest score where some are negative
(`multiply_relevance`)."""
from __future__ import annotations

import numpy as np

from core.rerank.candidates import Candidates, Operations
from core.rerank.rules.base import Booster, multiply_relevance


class BoostItems(Booster):
    name = "BoostItems"

    def __init__(self, max_boost: float = 2.0):
        if max_boost < 1.0:
            raise ValueError(f"BoostItems max_boost must be >= 1, got {max_boost}")
        self.max_boost = max_boost

    def adjust(self, scores: np.ndarray, candidates: Candidates, ops: Operations) -> np.ndarray:
        if not ops.boosts:
            return scores
        factors = np.array([ops.boosts.get(int(i), 1.0) for i in candidates.item_ids], dtype=np.float32)
        return multiply_relevance(scores, np.clip(factors, 1.0 / self.max_boost, self.max_boost))
