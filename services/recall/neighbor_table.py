"""Item-to-item neighbour tables as loaded by the recall service (built by training/item_cf.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class NeighborTable:
    neighbors: np.ndarray  # int64 [n_items, K] dense indices, -1 = none
    scores: np.ndarray     # float32 [n_items, K], descending per row

    def save(self, path: Path) -> None:
        np.savez(path, neighbors=self.neighbors, scores=self.scores)

    @classmethod
    def load(cls, path: Path) -> NeighborTable:
        with np.load(path, allow_pickle=False) as d:
            return cls(d["neighbors"], d["scores"])
