"""DropNearDuplicates: of items whose embeddings are nearly the same (cosine above
`threshold`), keep only the best-ranked one."""
from __future__ import annotations

import numpy as np

from core.rerank.candidates import Candidates, Operations
from core.rerank.rules.base import Filter


class DropNearDuplicates(Filter):
    name = "DropNearDuplicates"

    def __init__(self, threshold: float = 0.97):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"DropNearDuplicates threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold

    def keep_mask(self, candidates: Candidates, ops: Operations) -> np.ndarray:
        keep = np.ones(len(candidates), dtype=bool)
        near = candidates.vectors @ candidates.vectors.T > self.threshold
        np.fill_diagonal(near, False)
        for i in np.flatnonzero(near.any(axis=1)):  # usually none: no work
            if keep[i]:  # only a kept item makes later ones duplicates
                later = near[i].copy()
                later[: i + 1] = False
                keep[later] = False
        return keep
