"""Baselines tuned honestly: popularity, item-KNN and implicit ALS, each with a small grid
chosen on a validation split taken before the test cutoff, then refit on everything before
the cutoff and scored on the test users.

The validation split: training rows before `cutoff - window` train, the engaged rows of the
last `window` before the cutoff (the test window's length) are the held-out positives; users
with a positive on both sides, at most `max_users` of them (seeded sample). Full catalog,
items the user met before the split excluded, as in the test evaluation.

The models are the libraries' (implicit's ALS and item-item recommenders); only the grid,
the split and the scoring are here.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from training.metrics import hit_rate_at_k, ndcg_at_k, recall_at_k

DAY_MS = 86_400_000
GRIDS = {
    # positives before the cutoff, each weighing 0.5 ** (age / half-life); 0 = all-time counts
    "popularity": {"half_life_h": [3, 6, 12, 24, 72, 0]},
    "item_knn": {"kind": ["cosine", "bm25"], "K": [20, 100, 400]},
    # confidence = alpha x (1 for a positive, impression_weight for an impression without one)
    "implicit_als": {"factors": [32, 64, 128], "regularization": [0.01, 0.1, 1.0], "alpha": [1.0, 10.0],
                     "impression_weight": [0.0, 0.2]},
}
ALS_ITERATIONS = 15
TOP = 500


@dataclass
class Interactions:
    """Logged rows (0-based users and dense items) before some cutoff."""

    user_idx: np.ndarray
    item_idx: np.ndarray
    ts_ms: np.ndarray
    engaged: np.ndarray
    n_users: int
    n_items: int

    def take(self, mask: np.ndarray) -> Interactions:
        return Interactions(self.user_idx[mask], self.item_idx[mask], self.ts_ms[mask], self.engaged[mask],
                            self.n_users, self.n_items)

    def matrix(self, impression_weight: float = 0.0) -> sp.csr_matrix:
        """users x items: 1 for a positive, `impression_weight` for an impression without one."""
        w = np.where(self.engaged, 1.0, impression_weight).astype(np.float32)
        keep = w > 0
        m = sp.csr_matrix((w[keep], (self.user_idx[keep], self.item_idx[keep])),
                          shape=(self.n_users, self.n_items), dtype=np.float32)
        m.sum_duplicates()
        m.data = np.minimum(m.data, 1.0)  # a repeated positive counts once
        return m

    def seen(self, users: np.ndarray) -> sp.csr_matrix:
        m = sp.csr_matrix((np.ones(self.user_idx.size, np.float32), (self.user_idx, self.item_idx)),
                          shape=(self.n_users, self.n_items))
        return m[users]


def popularity(rows: Interactions, cutoff_ms: int, users: np.ndarray, half_life_h: float = 0) -> np.ndarray:
    from training.data import Popularity
    pos = rows.take(rows.engaged & (rows.ts_ms < cutoff_ms))
    total = np.bincount(pos.item_idx, minlength=rows.n_items).astype(np.float64)
    if half_life_h:  # ties (nothing recent) go to all-time counts
        score = Popularity(pos.item_idx, pos.ts_ms, rows.n_items, half_life_h)(np.arange(rows.n_items), cutoff_ms)
        score = score + 1e-6 * total / (total.max(initial=0) + 1.0)
    else:
        score = total
    return np.broadcast_to(score.astype(np.float32), (users.size, rows.n_items))


def item_knn(rows: Interactions, cutoff_ms: int, users: np.ndarray, kind: str = "cosine", K: int = 100) -> np.ndarray:
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
    from threadpoolctl import threadpool_limits
    liked = rows.matrix(0.0)
    model = (CosineRecommender(K=K) if kind == "cosine" else BM25Recommender(K=K))
    with threadpool_limits(1, "blas"):
        model.fit(liked, show_progress=False)
    return np.asarray((liked[users] @ model.similarity).todense(), dtype=np.float32)


def fit_als(rows: Interactions, factors: int = 64, regularization: float = 0.05, alpha: float = 1.0,
            impression_weight: float = 0.0, seed: int = 7):
    """implicit's ALS fitted on `rows` (also the mf recall channel's model, training/mf.py)."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits
    model = AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=alpha,
                                    iterations=ALS_ITERATIONS, random_state=seed)
    with threadpool_limits(1, "blas"):  # implicit's own threads do the work (its advice)
        model.fit(rows.matrix(impression_weight), show_progress=False)
    return model


def implicit_als(rows: Interactions, cutoff_ms: int, users: np.ndarray, factors: int = 64,
                 regularization: float = 0.05, alpha: float = 1.0, impression_weight: float = 0.0,
                 seed: int = 7) -> np.ndarray:
    model = fit_als(rows, factors, regularization, alpha, impression_weight, seed)
    return np.asarray(model.user_factors)[users] @ np.asarray(model.item_factors).T


MODELS = {"popularity": popularity, "item_knn": item_knn, "implicit_als": implicit_als}


def top_lists(scores: np.ndarray, seen: sp.csr_matrix, k: int = TOP) -> list[np.ndarray]:
    """Best `k` dense items per user, seen items excluded; items scored 0 or less by a
    neighbourhood model are not recommended (it has no opinion on them)."""
    s = np.array(scores, dtype=np.float32, copy=True)
    rows, cols = seen.nonzero()
    s[rows, cols] = -np.inf
    k = min(k, s.shape[1])
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(part, np.argsort(-np.take_along_axis(s, part, 1), axis=1, kind="stable"), 1)
    return [o[np.isfinite(s[i, o])] for i, o in enumerate(order)]


def score_lists(lists: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, float]:
    out = {f"recall@{k}": round(recall_at_k([x[:k] for x in lists], truths), 4) for k in (20, 50, 100, 500)}
    return out | {"ndcg@10": round(ndcg_at_k(lists, truths, 10), 4),
                  "hitrate@10": round(hit_rate_at_k(lists, truths, 10), 4)}


def split_users(rows: Interactions, cutoff_ms: int, later: Interactions, max_users: int,
                seed: int = 7) -> tuple[np.ndarray, list[np.ndarray]]:
    """Users with a positive before `cutoff_ms` in `rows` and one in `later`; their truths."""
    before = np.unique(rows.user_idx[rows.engaged & (rows.ts_ms < cutoff_ms)])
    pos = later.take(later.engaged)
    users = np.intersect1d(before, np.unique(pos.user_idx))
    if users.size > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    return users, [np.unique(pos.item_idx[pos.user_idx == u]) for u in users]


def grid(name: str) -> list[dict]:
    g = GRIDS[name]
    return [dict(zip(g, values)) for values in itertools.product(*g.values())]


def tune(train: Interactions, cutoff_ms: int, window_ms: int, max_users: int = 1000, seed: int = 7,
         models: tuple[str, ...] = tuple(MODELS)) -> dict[str, dict]:
    """Each model's grid on the validation split before `cutoff_ms`; returns per model the
    chosen params (best validation NDCG@10) and every point's validation NDCG@10."""
    val_cut = cutoff_ms - window_ms
    fit_rows = train.take(train.ts_ms < val_cut)
    held = train.take(train.ts_ms >= val_cut)
    users, truths = split_users(fit_rows, val_cut, held, max_users, seed)
    seen = fit_rows.seen(users)
    out = {}
    for name in models:
        points = []
        for params in grid(name):
            lists = top_lists(MODELS[name](fit_rows, val_cut, users, **params), seen, 100)
            points.append({"params": params, "ndcg@10": round(ndcg_at_k(lists, truths, 10), 4),
                           "recall@50": round(recall_at_k([x[:50] for x in lists], truths), 4)})
        best = max(points, key=lambda p: (p["ndcg@10"], p["recall@50"]))
        out[name] = {"chosen": best["params"], "validation": {"cutoff_ms": int(val_cut), "users": int(users.size),
                                                               "ndcg@10": best["ndcg@10"]},
                     "grid": points}
    return out


def evaluate(train: Interactions, cutoff_ms: int, users: np.ndarray, truths: list[np.ndarray],
             tuned: dict[str, dict], lists_out: dict | None = None) -> dict[str, dict]:
    """The tuned baselines refit on everything before the cutoff, scored on `users`
    (`lists_out`, when given, receives each baseline's lists)."""
    seen = train.seen(users)
    out = {}
    for name, t in tuned.items():
        lists = top_lists(MODELS[name](train, cutoff_ms, users, **t["chosen"]), seen)
        if lists_out is not None:
            lists_out[name] = lists
        out[name] = score_lists(lists, truths)
    return out
