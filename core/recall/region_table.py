"""Regional favourites as loaded by the recall service (built by training/item_cf.py and
shipped in the item-CF version as `region_top.npz`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class RegionTable:
    regions: np.ndarray  # int64 [R], ascending
    starts: np.ndarray   # int64 [R + 1], offsets into items/scores
    items: np.ndarray    # int64 dense item indices, best first within a region
    scores: np.ndarray   # float32, descending within a region

    def top(self, region: int) -> tuple[np.ndarray, np.ndarray]:
        pos = int(np.searchsorted(self.regions, region))
        if pos >= self.regions.size or self.regions[pos] != region:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        lo, hi = self.starts[pos], self.starts[pos + 1]
        return self.items[lo:hi], self.scores[lo:hi]

    def save(self, path: Path) -> None:
        np.savez(path, regions=self.regions, starts=self.starts, items=self.items, scores=self.scores)

    @classmethod
    def load(cls, path: Path) -> RegionTable:
        with np.load(path, allow_pickle=False) as d:
            return cls(d["regions"], d["starts"], d["items"], d["scores"])
