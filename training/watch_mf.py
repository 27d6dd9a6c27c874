"""The watch model: biased matrix factorisation of the logit of each impression's watched
fraction, fitted by alternating least squares (core/rank/watch.py serves it).

    y = logit(clip(watch / duration / 1.1, ε, 1 - ε)) ≈ μ + b_u + b_i + p_uᵀ q_i

Each half-step is a ridge regression per user (or per item) over its rows, with its bias as
one more column (lightly regularised); the halves alternate for `iterations` rounds from
small random item factors. (`implicit`, which fits the mf channel, has no explicit-feedback
model; these are the same normal equations the mf channel's fold-in solves.)
"""
from __future__ import annotations

import numpy as np

from core.items import ItemTable
from core.rank.watch import WatchModel

# A watched fraction runs to about 1.1 (a rewatch); clipped to [ε, 1 - ε] of that, the logit
# stays within ±4.6.
REWATCH = 1.1
EPS = 0.01
# Iterations: ALS had not converged at 10. Over the synthetic world's test-window rows (fitted
# before the cutoff), the correlation of the watched logit with the prediction (less the user's
# constant) was 0.428 / 0.463 / 0.480 / 0.488 after 5 / 10 / 20 / 40 iterations.
DEFAULT_PARAMS = {"factors": 16, "reg_user": 2.0, "reg_item": 10.0, "iterations": 20}
BIAS_REG = 0.1


def target(watch_ms: np.ndarray, duration_s: np.ndarray) -> np.ndarray:
    """The regression target of each row: the logit of the clipped watched fraction."""
    frac = np.asarray(watch_ms, np.float64) / np.maximum(np.asarray(duration_s, np.float64) * 1000.0, 1.0)
    f = np.clip(frac / REWATCH, EPS, 1 - EPS)
    return np.log(f / (1 - f))


def _groups(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    return order, np.searchsorted(keys[order], np.arange(n + 1))


def _solve(groups: tuple[np.ndarray, np.ndarray], other: np.ndarray, other_idx: np.ndarray,
           residual: np.ndarray, reg: float, out: np.ndarray, bias: np.ndarray) -> None:
    """Ridge per group: [factors, bias] against the other side's factors of its rows."""
    order, bounds = groups
    f = other.shape[1]
    ridge = np.diag(np.append(np.full(f, reg), BIAS_REG))
    for g in range(bounds.size - 1):
        rows = order[bounds[g]:bounds[g + 1]]
        if rows.size == 0:
            continue
        x = np.hstack([other[other_idx[rows]], np.ones((rows.size, 1))])
        sol = np.linalg.solve(x.T @ x + ridge, x.T @ residual[rows])
        out[g], bias[g] = sol[:f], sol[f]


def fit_log(user_ids: np.ndarray, item_idx: np.ndarray, watch_ms: np.ndarray, items: ItemTable,
            params: dict | None = None, seed: int = 7) -> WatchModel | None:
    """The model over logged rows (user id, dense item index into `items`, watched ms): the
    target from `items`' durations; rows of unknown items (index -1) dropped; None without rows."""
    keep = item_idx >= 0
    if not keep.any():
        return None
    ids, rows = np.unique(user_ids[keep], return_inverse=True)
    y = target(watch_ms[keep], items.duration_s[item_idx[keep]])
    return fit(rows, item_idx[keep], y, ids.size, len(items), ids, params, seed)


def fit(user_idx: np.ndarray, item_idx: np.ndarray, y: np.ndarray, n_users: int, n_items: int,
        user_ids: np.ndarray, params: dict | None = None, seed: int = 7) -> WatchModel:
    """ALS on rows (0-based user, dense item, target `y`); `user_ids[u]` is the id serving
    knows user u by. Users without rows are left out; items without rows score 0, the average."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    f, iters = int(p["factors"]), int(p["iterations"])
    rng = np.random.default_rng(seed)
    users = np.zeros((n_users, f))
    items = 0.1 * rng.standard_normal((n_items, f))
    b_user, b_item = np.zeros(n_users), np.zeros(n_items)
    mu = float(y.mean()) if y.size else 0.0
    by_user, by_item = _groups(user_idx, n_users), _groups(item_idx, n_items)
    for _ in range(iters):
        _solve(by_user, items, item_idx, y - mu - b_item[item_idx], float(p["reg_user"]), users, b_user)
        _solve(by_item, users, user_idx, y - mu - b_user[user_idx], float(p["reg_item"]), items, b_item)
    items[np.diff(by_item[1]) == 0] = 0.0  # no row showed it: the average video (score 0)
    has_rows = np.diff(by_user[1]) > 0
    return WatchModel.build(items, b_item, np.asarray(user_ids, np.int64)[has_rows], users[has_rows])
