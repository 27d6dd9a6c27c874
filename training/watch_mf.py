"""The watch model: biased matrix factorisation of the logit of each impression's watched
fraction, fitted by alternating least squares (core/rank/watch.py serves it).

    y = logit(clip(watch / duration / 1.1, ε, 1 - ε)) ≈ μ + b_u + b_i + p_uᵀ q_i

Each half-step is a ridge regression per user (or per item) over its rows, with its bias as
one more column; the halves alternate for `iterations` rounds from small random item factors.

Items are shrunk towards what their metadata says, not towards zero: each item's factors and
bias towards its category's mean, and its bias also towards its author's mean offset (a
hierarchical prior, as side information enters SVDFeature, Chen et al. JMLR 2012). A video
with few impressions then reads as "a video of its category by its author" instead of as the
average video, and one with none (an upload newer than the log) scores by its metadata alone.
The item bias is regularised like the factors (`reg_item_bias`): a top-N picks the extremes,
and an unshrunk bias over a handful of rows puts the luckiest videos there.

Users shrink towards what they were shown: a user's factors towards `shown_prior` times the
mean factors of the videos on their rows. Which videos a user is shown says something of
their taste before any watched fraction does (the system that logged them chose them for the
user), as the implicit term of SVD++ (Koren, KDD 2008) reads it from which items a user rated.

(`implicit`, which fits the mf channel, has no explicit-feedback model; these are the same
normal equations the mf channel's fold-in solves.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.items import ItemTable
from core.rank.features import DAY_MS
from core.rank.watch import FoldIn, WatchModel, target

# Chosen on held-out rows: fitted on the synthetic world's log before its last 2 days, the
# correlation of the watched logit of the last 2 days' rows with the prediction (both less
# the user's mean). ALS had not converged at 10 iterations: 0.428 / 0.463 / 0.480 / 0.488
# after 5 / 10 / 20 / 40 (no priors, item bias unregularised). Then, at 20 iterations:
#   no priors, reg_item_bias 0.1 (session 9)             0.493
#   + reg_item_bias 2                                    0.494
#   + category prior                                     0.521
#   + author prior on the bias                           0.525
#   reg_user / reg_item 1 / 10: 0.508, 2 / 5: 0.508, 2 / 20: 0.535, 5 / 10: 0.534, 5 / 20: 0.522,
#   5 / 40: 0.500, 10 / 40: 0.477; 8 factors 0.529, 32 factors 0.471; reg_item_bias 1: 0.526, 5: 0.520
# (one world, one seed; the differences under ~0.005 are noise). Over all the held-out rows
# (the numbers above are their first 20,000): priors 0.520; + the age term 0.544 (slope
# -0.044 a day; the world's truth is -0.05); + weighting each user's rows by recency, half-life
# 4 / 7 / 14 days: 0.531 / 0.541 / 0.544 (the users' slow drift is not worth the rows).
# Then the user prior (`shown_prior`, below), over all the held-out rows, with the age term:
#   0: 0.544, 1: 0.551, 3: 0.563, 10: 0.584, 20: 0.589, 30: 0.587, 100: 0.553;
#   30 with reg_user 1 / 5: 0.580 / 0.580.
# `fold_in_weight`: how many rows each view since the version counts for when the rank stage
# folds it into the user's vector (core/rank/watch.py, FoldIn). A probe of the closed loop
# (the simulator's 200 users of seed 7, 10 rounds of 10, each feed the top 10 of the unseen
# catalog by this model alone; the paired difference against no fold-in, oracle relevance
# 0.0858): weight 1 +0.0009 (100 users), 3 +0.0044 ± 0.0021, 10 +0.0046 ± 0.0024; the same
# with the user's precision approximated by their row count x the log's mean Gram, 3:
# +0.0012 ± 0.0023, so the version ships each user's own.
DEFAULT_PARAMS = {"factors": 16, "reg_user": 2.0, "reg_item": 20.0, "reg_item_bias": 2.0, "iterations": 20,
                  "shown_prior": 20.0, "fold_in_weight": 3.0}
USER_BIAS_REG = 0.1
# Pseudo-counts (rows) of the group means: a category's (or author's) mean counts for this
# many rows of evidence against zero, so a group seen a few times stays near the average.
CATEGORY_SHRINK = 5.0
AUTHOR_SHRINK = 20.0


def _groups(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    return order, np.searchsorted(keys[order], np.arange(n + 1))


def _solve(groups: tuple[np.ndarray, np.ndarray], other: np.ndarray, other_idx: np.ndarray,
           residual: np.ndarray, reg: float, bias_reg: float, out: np.ndarray, bias: np.ndarray,
           prior: np.ndarray | None = None) -> None:
    """Ridge per group: [factors, bias] against the other side's factors of its rows, shrunk
    towards `prior` ([n_groups, f + 1]: factors, bias) or towards zero."""
    order, bounds = groups
    f = other.shape[1]
    penalty = np.append(np.full(f, reg), bias_reg)
    ridge = np.diag(penalty)
    for g in range(bounds.size - 1):
        rows = order[bounds[g]:bounds[g + 1]]
        if rows.size == 0:
            continue
        x = np.hstack([other[other_idx[rows]], np.ones((rows.size, 1))])
        rhs = x.T @ residual[rows]
        if prior is not None:
            rhs += penalty * prior[g]
        sol = np.linalg.solve(x.T @ x + ridge, rhs)
        out[g], bias[g] = sol[:f], sol[f]


def _precisions(groups: tuple[np.ndarray, np.ndarray], other: np.ndarray, other_idx: np.ndarray,
                penalty: np.ndarray) -> np.ndarray:
    """[n_groups, f + 1, f + 1]: each group's Σ [q, 1][q, 1]ᵀ over its rows plus the ridge,
    the matrix its last ridge solve inverted."""
    order, bounds = groups
    out = np.empty((bounds.size - 1, penalty.size, penalty.size))
    for g in range(bounds.size - 1):
        rows = order[bounds[g]:bounds[g + 1]]
        x = np.hstack([other[other_idx[rows]], np.ones((rows.size, 1))])
        out[g] = x.T @ x + np.diag(penalty)
    return out


def _group_mean(values: np.ndarray, group: np.ndarray, weight: np.ndarray, shrink: float,
                n: int | None = None) -> np.ndarray:
    """Per group code (0..n-1, by default up to the largest), the `weight`ed mean of `values`
    shrunk towards 0 by `shrink` pseudo-weight; 0 for a group without weight."""
    n = int(group.max(initial=0)) + 1 if n is None else n
    total = np.zeros((n,) + values.shape[1:])
    np.add.at(total, group, values * weight.reshape((-1,) + (1,) * (values.ndim - 1)))
    denom = np.bincount(group, weight, minlength=n) + shrink
    return total / np.maximum(denom, 1e-12).reshape((-1,) + (1,) * (values.ndim - 1))


@dataclass(frozen=True)
class _Priors:
    """What an item's metadata says of its factors and bias: its category's mean factors and
    bias, plus its author's mean offset from that bias."""

    category: np.ndarray        # [n_codes, f + 1]
    author_offset: np.ndarray   # [n_author_codes]

    @classmethod
    def of(cls, factors: np.ndarray, bias: np.ndarray, weight: np.ndarray, category: np.ndarray,
           author: np.ndarray) -> _Priors:
        cat = _group_mean(np.hstack([factors, bias[:, None]]), category, weight, CATEGORY_SHRINK)
        offset = _group_mean(bias - cat[category, -1], author, weight, AUTHOR_SHRINK)
        return cls(cat, offset)

    def items(self, category: np.ndarray, author: np.ndarray) -> np.ndarray:
        prior = self.category[category].copy()
        prior[:, -1] += self.author_offset[author]
        return prior


def fit_log(user_ids: np.ndarray, item_idx: np.ndarray, watch_ms: np.ndarray, items: ItemTable,
            params: dict | None = None, seed: int = 7, ts_ms: np.ndarray | None = None) -> WatchModel | None:
    """The model over logged rows (user id, dense item index into `items`, watched ms, and
    the row's time where known): the target from `items`' durations, the priors from their
    categories and authors, each row's video age from its publish time; rows of unknown items
    (index -1) dropped; None without rows."""
    keep = item_idx >= 0
    if not keep.any():
        return None
    ids, rows = np.unique(user_ids[keep], return_inverse=True)
    idx = item_idx[keep]
    y = target(watch_ms[keep], items.duration_s[idx])
    ages = None if ts_ms is None else (np.asarray(ts_ms, np.int64)[keep] - items.publish_ms[idx]) / DAY_MS
    since = int(np.max(np.asarray(ts_ms)[keep])) if ts_ms is not None else 0
    return fit(rows, idx, y, ids.size, len(items), ids, params, seed,
               category=items.category, author=items.author_id, age_days=ages, since_ms=since)


def fit(user_idx: np.ndarray, item_idx: np.ndarray, y: np.ndarray, n_users: int, n_items: int,
        user_ids: np.ndarray, params: dict | None = None, seed: int = 7,
        category: np.ndarray | None = None, author: np.ndarray | None = None,
        age_days: np.ndarray | None = None, since_ms: int = 0) -> WatchModel:
    """ALS on rows (0-based user, dense item, target `y`); `user_ids[u]` is the id serving
    knows user u by. `category` and `author` (ids per dense item) give the items' priors; without
    them items shrink towards zero. `age_days` (the video's age at each row) adds a linear age
    term, fitted with the rest. Users without rows are left out; items without rows get their
    prior (0, the average video, without one). `since_ms`: the time of the latest row (views
    after it fold into the users' vectors at serving)."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    f, iters = int(p["factors"]), int(p["iterations"])
    rng = np.random.default_rng(seed)
    users = np.zeros((n_users, f))
    items = 0.1 * rng.standard_normal((n_items, f))
    b_user, b_item = np.zeros(n_users), np.zeros(n_items)
    mu = float(y.mean()) if y.size else 0.0
    by_user, by_item = _groups(user_idx, n_users), _groups(item_idx, n_items)
    shown = np.diff(by_item[1]).astype(np.float64)
    # Dense codes for the metadata ids (any ints, as the log spells them).
    meta = None if category is None or author is None else (
        np.unique(category, return_inverse=True), np.unique(author, return_inverse=True))
    priors, item_prior = None, None
    # The age term: a clipped age (no extrapolation past what the log shows), one slope.
    age_cap = float(np.quantile(age_days, 0.99)) if age_days is not None and age_days.size else 0.0
    age = np.clip(age_days, 0.0, age_cap) if age_cap > 0 else np.zeros_like(y)
    slope = 0.0

    def user_step(base: np.ndarray) -> None:
        user_prior = None
        if p.get("shown_prior"):  # the mean factors of each user's videos, scaled
            shown_mean = _group_mean(items[item_idx], user_idx, np.ones(user_idx.size), 0.0, n_users)
            user_prior = np.hstack([float(p["shown_prior"]) * shown_mean, np.zeros((n_users, 1))])
        _solve(by_user, items, item_idx, base - b_item[item_idx], float(p["reg_user"]), USER_BIAS_REG,
               users, b_user, user_prior)

    for _ in range(iters):
        base = y - mu - slope * age
        user_step(base)
        if meta is not None:
            priors = _Priors.of(items, b_item, shown, meta[0][1], meta[1][1])
            item_prior = priors.items(meta[0][1], meta[1][1])
        _solve(by_item, users, user_idx, base - b_user[user_idx], float(p["reg_item"]),
               float(p["reg_item_bias"]), items, b_item, item_prior)
        if age_cap > 0:  # least squares of what is left on [1, age]
            rest = y - b_user[user_idx] - b_item[item_idx] - np.sum(users[user_idx] * items[item_idx], axis=1)
            centred = age - age.mean()
            slope = float(centred @ rest / max(centred @ centred, 1e-12))
            mu = float(rest.mean() - slope * age.mean())
    unseen = shown == 0  # no row showed it: its prior, or the average video (score 0)
    items[unseen] = 0.0 if item_prior is None else item_prior[unseen, :f]
    b_item[unseen] = 0.0 if item_prior is None else item_prior[unseen, f]
    # A last user step against the final item side: each user's row and its precision (the
    # fold-in's prior) then describe the same fit.
    user_step(y - mu - slope * age)
    has_rows = np.diff(by_user[1]) > 0
    kept_ids = np.asarray(user_ids, np.int64)[has_rows]
    model = WatchModel.build(items, b_item, kept_ids, users[has_rows],
                             slope, age_cap, float(p.get("shown_prior") or 0.0))
    penalty = np.append(np.full(f, float(p["reg_user"])), USER_BIAS_REG)
    order = np.argsort(kept_ids, kind="stable")  # the users' order in the model (by id)
    model = model.with_fold_in(FoldIn(
        mu, b_user[has_rows][order].astype(np.float32),
        _precisions(by_user, items, item_idx, penalty)[has_rows][order].astype(np.float32),
        penalty.astype(np.float32), int(since_ms), float(p["fold_in_weight"])))
    if priors is None:
        return model
    return model.with_priors(meta[0][0], priors.category[:, :f], priors.category[:, f], meta[1][0],
                             priors.author_offset)
