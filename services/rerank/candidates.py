"""The rerank stage's view of its input: parallel arrays, in rank order."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Candidates:
    item_ids: np.ndarray   # int64 [n]
    scores: np.ndarray     # float32 [n], relevance, higher is better
    author_ids: np.ndarray  # int64 [n], 0 = unknown
    categories: np.ndarray  # int64 [n], 0 = unknown
    vectors: np.ndarray    # float32 [n, d], unit norm; zeros for unknown items

    def __len__(self) -> int:
        return int(self.item_ids.size)
