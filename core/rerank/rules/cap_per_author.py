"""CapPerAuthor: at most `limit` items of one author in the feed (the best-ranked ones).

Soft: when the cap would leave the feed shorter than asked, the policy may bring capped
items back (a second video of an author beats a short feed)."""
from __future__ import annotations

import numpy as np

from core.rerank.candidates import Candidates, Operations
from core.rerank.rules.base import Filter


class CapPerAuthor(Filter):
    name = "CapPerAuthor"
    soft = True

    def __init__(self, limit: int = 2):
        if limit < 1:
            raise ValueError(f"CapPerAuthor limit must be >= 1, got {limit}")
        self.limit = limit

    def keep_mask(self, candidates: Candidates, ops: Operations) -> np.ndarray:
        authors = candidates.author_ids
        # Rank of each item within its author's items, in input order.
        order = np.argsort(authors, kind="stable")
        sorted_authors = authors[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_authors)) + 1]
        group_start = np.repeat(starts, np.diff(np.r_[starts, authors.size]))
        rank = np.empty(authors.size, dtype=np.int64)
        rank[order] = np.arange(authors.size) - group_start
        return (rank < self.limit) | (authors == 0)  # unknown authors are not capped
