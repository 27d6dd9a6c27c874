"""DropNearDuplicates: of items whose embeddings are nearly the same (cosine above
`threshold`), keep only the best-ranked one."""
from __future__ import annotations

import numpy as np

from services.rerank.candidates import Candidates, Operations
from services.rerank.rules.base import Filter


class DropNearDuplicates(Filter):
    name = "DropNearDuplicates"

    def __init__(self, threshold: float = 0.97):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"DropNearDuplicates threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold

    def keep_mask(self, candidates: Candidates, ops: Operations) -> np.ndarray:
        n = len(candidates)
        sim = candidates.vectors @ candidates.vectors.T
        dup = np.triu(sim > self.threshold, k=1)  # dup[i, j]: j (later) duplicates i (earlier)
        keep = np.ones(n, dtype=bool)
        for i in np.flatnonzero(dup.any(axis=1)):
            if keep[i]:  # only a kept item can make later ones duplicates
                keep[dup[i]] = False
        return keep
