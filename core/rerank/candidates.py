"""The rerank stage's data: candidates as parallel arrays, the request's operational
inputs, and the changes the stage reports."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

import numpy as np

from core.items import ItemTable


@dataclass(frozen=True)
class Candidates:
    """Rows 0..n_input-1 are the request's candidates in rank order; rows after them are
    pool items that are not candidates (only slot rules use those)."""

    item_ids: np.ndarray    # int64 [n]
    scores: np.ndarray      # float32 [n], relevance, higher is better (pool-only rows: 0)
    author_ids: np.ndarray  # int64 [n], 0 = unknown
    categories: np.ndarray  # int64 [n], 0 = unknown
    vectors: np.ndarray     # float32 [n, d], unit norm; zeros for unknown items
    publish_ms: np.ndarray | None = None  # int64 [n], catalog time; None = unknown
    n_input: int = -1       # how many rows are request candidates (-1 = all)

    def __post_init__(self):
        if self.n_input < 0:
            object.__setattr__(self, "n_input", int(self.item_ids.size))

    def __len__(self) -> int:
        return int(self.item_ids.size)

    def subset(self, idx: np.ndarray) -> Candidates:
        pub = self.publish_ms[idx] if self.publish_ms is not None else None
        return Candidates(self.item_ids[idx], self.scores[idx], self.author_ids[idx],
                          self.categories[idx], self.vectors[idx], pub, int(np.asarray(idx).size))


@dataclass(frozen=True)
class Operations:
    """Per-request operational input: what must not show, what to boost, the time.
    (Slot pools reach the policy as candidate rows, see Policy.apply.)"""

    blocked: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    boosts: dict[int, float] = field(default_factory=dict)
    now_ms: int = 0  # catalog time of the request, for freshness
    # Categories of the items engaged in the current session -> their share of them.
    session_categories: dict[int, float] = field(default_factory=dict)


class ChangeKind(Enum):
    MOVED = 2
    INSERTED = 3


class Change(NamedTuple):
    """A feed item a rule moved or inserted."""

    row: int            # row in Candidates
    kind: ChangeKind
    reason: str
    from_position: int  # 1-based position in the input, 0 for pool items
    to_position: int    # 1-based position in the feed


class ItemSide:
    """Authors, categories, publish times and embeddings of the catalog, by dense index."""

    def __init__(self, items: ItemTable, vectors: np.ndarray):
        self.items = items
        self.vectors = np.vstack([vectors.astype(np.float32),
                                  np.zeros((1, vectors.shape[1]), np.float32)])  # row -1: unknown

    def categories_of(self, ids: np.ndarray) -> np.ndarray:
        """Each id's category, 0 when unknown."""
        idx = self.items.index_of(ids)
        return np.where(idx >= 0, self.items.category[np.maximum(idx, 0)], 0)

    def candidates(self, ids: np.ndarray, scores: np.ndarray, n_input: int | None = None) -> Candidates:
        idx = self.items.index_of(ids)
        known = idx >= 0
        safe = np.where(known, idx, 0)
        return Candidates(ids, scores, np.where(known, self.items.author_id[safe], 0),
                          np.where(known, self.items.category[safe], 0), self.vectors[idx],
                          np.where(known, self.items.publish_ms[safe], np.iinfo(np.int64).min),
                          ids.size if n_input is None else n_input)
