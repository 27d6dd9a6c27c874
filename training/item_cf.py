"""Item-to-item collaborative filtering tables (for u2i2i recall).

Two items are similar when the same users engage with both close together in time:
co-occurrence within a window of each user's engagement sequence, each user's pairs
down-weighted by 1 / log(2 + that user's activity) (inverse user frequency, so a handful of
heavy users cannot define similarity), normalised by sqrt(n_i * n_j). Each item keeps its top
K neighbours. Output: dense arrays, no pickles.
"""
from __future__ import annotations

import numpy as np

from core.recall.neighbor_table import NeighborTable
from core.recall.region_table import RegionTable


def build(user_idx: np.ndarray, item_idx: np.ndarray, ts_ms: np.ndarray, n_items: int,
          window: int = 5, k: int = 50) -> NeighborTable:
    """Tables from engagement rows (user, dense item, time)."""
    order = np.lexsort((ts_ms, user_idx))
    u, i = user_idx[order], item_idx[order]
    activity = np.bincount(u)
    weight_of_user = 1.0 / np.log(2.0 + activity)
    lefts, rights, weights = [], [], []
    for lag in range(1, window + 1):
        same_user = u[lag:] == u[:-lag]
        a, b = i[:-lag][same_user], i[lag:][same_user]
        w = weight_of_user[u[lag:][same_user]]
        distinct = a != b
        a, b, w = a[distinct], b[distinct], w[distinct]
        lefts += [a, b]
        rights += [b, a]
        weights += [w, w]
    if not lefts or sum(x.size for x in lefts) == 0:
        return NeighborTable.from_dense(np.full((n_items, k), -1, np.int64), np.zeros((n_items, k), np.float32))
    left, right, weight = np.concatenate(lefts), np.concatenate(rights), np.concatenate(weights)
    pair = left * n_items + right
    uniq, inverse = np.unique(pair, return_inverse=True)
    co = np.bincount(inverse, weights=weight)
    a, b = uniq // n_items, uniq % n_items
    count = np.bincount(i, minlength=n_items).astype(np.float64)
    sim = co / np.sqrt(np.maximum(count[a] * count[b], 1.0))
    order = np.lexsort((-sim, a))
    a, b, sim = a[order], b[order], sim[order]
    first = np.searchsorted(a, np.arange(n_items))
    rank = np.arange(a.size) - first[a]
    keep = rank < k
    neighbors = np.full((n_items, k), -1, np.int64)
    scores = np.zeros((n_items, k), np.float32)
    neighbors[a[keep], rank[keep]] = b[keep]
    scores[a[keep], rank[keep]] = sim[keep]
    return NeighborTable.from_dense(neighbors, scores)


def region_favourites(region: np.ndarray, item_idx: np.ndarray, ts_ms: np.ndarray, k: int = 500,
                      half_life_days: float = 3.0) -> RegionTable:
    """Per user region, the items its users engaged with most (time-decayed towards the end
    of the window), best first: the cold-start channel's list."""
    if region.size == 0:
        return RegionTable(*(np.zeros(n, np.int64) for n in (0, 1, 0)), np.zeros(0, np.float32))
    age_days = (ts_ms.max() - ts_ms) / 86_400_000
    w = 0.5 ** (age_days / half_life_days)
    n_items = int(item_idx.max()) + 1
    uniq, inverse = np.unique(region * n_items + item_idx, return_inverse=True)
    score = np.bincount(inverse, weights=w)
    r, i = uniq // n_items, uniq % n_items
    order = np.lexsort((-score, r))
    r, i, score = r[order], i[order], score[order]
    first = np.searchsorted(r, r)  # r is sorted: the first row of each region
    keep = np.arange(r.size) - first < k
    r, i, score = r[keep], i[keep], score[keep]
    regions, starts = np.unique(r, return_index=True)
    return RegionTable(regions.astype(np.int64), np.append(starts, r.size).astype(np.int64),
                       i.astype(np.int64), score.astype(np.float32))
