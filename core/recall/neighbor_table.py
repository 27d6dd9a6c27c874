"""Item-to-item neighbour tables as loaded by the recall service (built by training/item_cf.py).

Stored sparse (CSR): row i's neighbours are `indices[indptr[i]:indptr[i + 1]]`, best first,
with their similarity in `scores`. Most videos of a large catalog have few or no neighbours,
so a 1M-video table costs what its neighbours cost, not 1M x K.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class NeighborTable:
    indptr: np.ndarray   # int64 [n_items + 1]
    indices: np.ndarray  # int32 dense item indices, best first within a row
    scores: np.ndarray   # float32, descending within a row

    @classmethod
    def from_dense(cls, neighbors: np.ndarray, scores: np.ndarray) -> NeighborTable:
        """From [n, K] arrays padded with -1."""
        valid = neighbors >= 0
        indptr = np.concatenate([[0], np.cumsum(valid.sum(1))]).astype(np.int64)
        return cls(indptr, neighbors[valid].astype(np.int32), scores[valid].astype(np.float32))

    @property
    def n_items(self) -> int:
        return int(self.indptr.size - 1)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.indptr[i], self.indptr[i + 1]
        return self.indices[lo:hi].astype(np.int64), self.scores[lo:hi]

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Neighbours of several rows, concatenated: (neighbour, score, position in `rows`)."""
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        owner = np.repeat(np.arange(rows.size), lengths)
        flat = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths) + starts[owner]
        return self.indices[flat].astype(np.int64), self.scores[flat], owner

    def padded(self, n_items: int) -> NeighborTable:
        """The same neighbours over a larger catalog (the extra rows have none)."""
        extra = n_items - self.n_items
        return NeighborTable(np.concatenate([self.indptr, np.full(extra, self.indptr[-1])]), self.indices, self.scores)

    def save(self, path: Path) -> None:
        np.savez(path, indptr=self.indptr, indices=self.indices, scores=self.scores)

    @classmethod
    def load(cls, path: Path) -> NeighborTable:
        with np.load(path, allow_pickle=False) as d:
            if "indptr" not in d:  # the dense layout of early versions
                return cls.from_dense(d["neighbors"], d["scores"])
            return cls(d["indptr"], d["indices"], d["scores"])
