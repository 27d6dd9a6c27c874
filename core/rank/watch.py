"""The watch model: how much of each video a user would watch, by their long-term taste.

Training (training/watch_mf.py) factorises the watched fraction of every logged impression,

    logit(watched fraction) ≈ μ + b_user + b_item + p_userᵀ q_item

(biased matrix factorisation; Koren, Bell and Volinsky, IEEE Computer 2009). A watched
fraction says how much a user liked a video on every row, where a click or a like says so on
a few, so the factors learn each video's own appeal, not only its category's. The user
factors are fitted offline from the whole history and stored in the version (a batch user
embedding): the state the gateway reads (recent and seen ids) carries no watch times to fold
a vector in from per request.

The rank stage adds `score` (b_item + p_userᵀ q_item, the predicted logit less the user's
constant) to the fused score with the weight the validation fit chose (the ranker manifest's
`watch_weight`). A user the version does not know gets the vector the fit shrank every user
towards, the scaled mean factors of the videos they have been shown (their seen set); with
none, they score 0 everywhere and their order is the ranker's alone.

What the user watched since the version was fitted folds into their vector per request: the
version ships each user's precision (the Gram of their rows' [factors, 1] plus the ridge, i.e.
the inverse covariance of their fitted row), and the views in the request's state (item,
watched ms, time) update the row as Bayesian linear regression does (`FoldIn`; the same
normal equations as one more ALS user step over the old rows and the new ones, the item side
held fixed). Each new view counts `FoldIn.weight` rows: a view of this session says more of
what the user wants now than one of last week (a session leans to a mood).

A video's watched fraction falls as it ages, whoever watches it: the model has one linear age
term (fitted with the rest, capped at the oldest ages its log shows), so a video's bias is its
appeal at publication and the rank stage scores its age as it is now.

A version fitted with item metadata also ships the priors it shrank items towards (each
category's mean factors and bias, each author's mean bias offset): a video newer than the
version (one the rank service appended from the live catalog) is scored as its category and
author say, not as the average video.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core.items import ItemTable
from core.rank.features import DAY_MS
from core.registry.reader import ModelVersion

FILE = "watch_mf.npz"
# A watched fraction runs to about 1.1 (a rewatch); clipped to [ε, 1 - ε] of that, the logit
# stays within ±4.6.
REWATCH = 1.1
EPS = 0.01


def target(watch_ms: np.ndarray, duration_s: np.ndarray) -> np.ndarray:
    """The model's regression target of each view: the logit of the clipped watched fraction."""
    frac = np.asarray(watch_ms, np.float64) / np.maximum(np.asarray(duration_s, np.float64) * 1000.0, 1.0)
    f = np.clip(frac / REWATCH, EPS, 1 - EPS)
    return np.log(f / (1 - f))


@dataclass(frozen=True)
class Watched:
    """Views to fold into a user's vector: dense item indices (into the table the request's
    indices point into), watched ms and the view's time (catalog ms)."""

    item_idx: np.ndarray
    watch_ms: np.ndarray
    ts_ms: np.ndarray


@dataclass(frozen=True)
class FoldIn:
    """What updating a user's row from new views needs, beside the factors (row j = the
    model's user_ids[j]): y ≈ mu + [p_u, b_u]·[q_i, 1] + age term + b_i."""

    mu: float
    user_bias: np.ndarray  # float32 [n_users]
    precision: np.ndarray  # float32 [n_users, f + 1, f + 1]: Σ [q_i, 1][q_i, 1]ᵀ over the rows + ridge
    penalty: np.ndarray    # float32 [f + 1]: the ridge alone (a user the version does not know)
    since_ms: int          # the latest row the fit saw: views at or before it are in the vector
    weight: float          # rows each new view counts for


_FOLD = {"mu": "fold_mu", "user_bias": "fold_user_bias", "precision": "fold_precision",
         "penalty": "fold_penalty", "since_ms": "fold_since_ms", "weight": "fold_weight"}


@dataclass(frozen=True)
class WatchModel:
    """Row i of the item arrays = dense item i of the version's first `len(item_bias)` items;
    `user_ids` ascending, row j of `user_factors` belongs to user_ids[j]."""

    item_factors: np.ndarray  # float32 [n_items, f]
    item_bias: np.ndarray     # float32 [n_items]
    user_ids: np.ndarray      # int64 [n_users], sorted
    user_factors: np.ndarray  # float32 [n_users, f]
    # The watched logit's change per day of a video's age, and the age it stops at (the log's
    # 99th percentile: no extrapolation past what it showed); 0 without an age term.
    age_slope: float = 0.0
    age_cap_days: float = 0.0
    # The scale of the mean factors of a user's shown videos that user factors were shrunk
    # towards: a user the version does not know gets that as their vector (0: no vector).
    shown_prior: float = 0.0
    # Priors by metadata (None in a version without them): category ids ascending with their
    # mean factors [n_categories, f] and bias; author ids ascending with their bias offset.
    category_ids: np.ndarray | None = None
    category_factors: np.ndarray | None = None
    category_bias: np.ndarray | None = None
    author_ids: np.ndarray | None = None
    author_bias: np.ndarray | None = None
    fold_in: FoldIn | None = None  # None: a version fitted before fold-in (scores ignore new views)

    @classmethod
    def build(cls, item_factors: np.ndarray, item_bias: np.ndarray, user_ids: np.ndarray,
              user_factors: np.ndarray, age_slope: float = 0.0, age_cap_days: float = 0.0,
              shown_prior: float = 0.0) -> WatchModel:
        order = np.argsort(user_ids, kind="stable")
        return cls(np.ascontiguousarray(item_factors, dtype=np.float32),
                   np.ascontiguousarray(item_bias, dtype=np.float32),
                   np.asarray(user_ids, np.int64)[order],
                   np.ascontiguousarray(np.asarray(user_factors)[order], dtype=np.float32),
                   float(age_slope), float(age_cap_days), float(shown_prior))

    def with_priors(self, category_ids: np.ndarray, category_factors: np.ndarray, category_bias: np.ndarray,
                    author_ids: np.ndarray, author_bias: np.ndarray) -> WatchModel:
        """The same model with priors for videos past its item arrays (ids ascending)."""
        return replace(self, category_ids=np.asarray(category_ids, np.int64),
                       category_factors=np.ascontiguousarray(category_factors, np.float32),
                       category_bias=np.asarray(category_bias, np.float32),
                       author_ids=np.asarray(author_ids, np.int64), author_bias=np.asarray(author_bias, np.float32))

    def with_fold_in(self, fold_in: FoldIn) -> WatchModel:
        """The same model with what folding new views in needs (user rows in `user_ids` order)."""
        return replace(self, fold_in=fold_in)

    def save(self, folder: Path) -> dict:
        """Writes FILE; returns the manifest entry."""
        priors = {k: getattr(self, k) for k in _PRIORS if getattr(self, k) is not None}
        fold = {} if self.fold_in is None else {_FOLD[k]: np.asarray(getattr(self.fold_in, k)) for k in _FOLD}
        np.savez(folder / FILE, item_factors=self.item_factors, item_bias=self.item_bias,
                 user_ids=self.user_ids, user_factors=self.user_factors,
                 age=np.array([self.age_slope, self.age_cap_days]), shown_prior=np.array(self.shown_prior),
                 **priors, **fold)
        return {"factors": int(self.item_factors.shape[1]), "items": int(self.item_bias.size),
                "users": int(self.user_ids.size), "priors": bool(priors),
                "age_slope_per_day": round(self.age_slope, 5), "age_cap_days": round(self.age_cap_days, 2),
                "shown_prior": self.shown_prior,
                "fold_in_weight": None if self.fold_in is None else self.fold_in.weight}

    @classmethod
    def of(cls, mv: ModelVersion) -> WatchModel | None:
        """The version's watch model, None where it has none (trained before it existed, or
        on a log without watch times)."""
        if FILE not in mv.manifest.get("files", {}):
            return None
        with np.load(mv.file(FILE), allow_pickle=False) as z:
            age = z["age"].tolist() if "age" in z else [0.0, 0.0]
            model = cls(np.ascontiguousarray(z["item_factors"], np.float32),
                        np.ascontiguousarray(z["item_bias"], np.float32),
                        z["user_ids"].astype(np.int64), np.ascontiguousarray(z["user_factors"], np.float32),
                        float(age[0]), float(age[1]), float(z["shown_prior"]) if "shown_prior" in z else 0.0)
            if all(k in z for k in _PRIORS):
                model = model.with_priors(*(z[k] for k in _PRIORS))
            if all(k in z for k in _FOLD.values()):
                model = model.with_fold_in(FoldIn(
                    float(z["fold_mu"]), z["fold_user_bias"].astype(np.float32),
                    np.ascontiguousarray(z["fold_precision"], np.float32), z["fold_penalty"].astype(np.float32),
                    int(z["fold_since_ms"]), float(z["fold_weight"])))
            return model

    def user_row(self, user_id: int) -> int:
        """The user's row, -1 for a user the version does not know."""
        j = int(np.searchsorted(self.user_ids, user_id))
        return j if j < self.user_ids.size and self.user_ids[j] == user_id else -1

    def needs_seen(self, user_id: int) -> bool:
        """Whether `score` would read the user's seen videos: a user the version does not know,
        where it ships a shown prior."""
        return bool(self.shown_prior) and self.user_row(user_id) < 0

    def user_vector(self, user_id: int, seen_idx: np.ndarray | None = None, watched: Watched | None = None,
                    items: ItemTable | None = None) -> np.ndarray | None:
        """The user's factors; for a user the version does not know, the prior the fit shrank
        every user towards (`shown_prior` x the mean factors of the videos they were shown,
        `seen_idx` dense indices); None where there is neither. With `watched` (and `items`,
        the table its indices point into), the views since the version folded in."""
        j = self.user_row(user_id)
        if j >= 0:
            base = self.user_factors[j]
        elif not self.shown_prior or seen_idx is None:
            base = None
        else:
            seen = seen_idx[(seen_idx >= 0) & (seen_idx < self.item_bias.size)]
            base = self.shown_prior * self.item_factors[seen].mean(axis=0) if seen.size else None
        if watched is None or items is None or self.fold_in is None:
            return base
        return self._folded(j, base, watched, items)

    def _folded(self, j: int, base: np.ndarray | None, watched: Watched, items: ItemTable) -> np.ndarray | None:
        """The posterior mean of the user's [factors, bias] given their fitted row (or the
        prior, for a user the version does not know) and the views since the version, each
        counting `weight` rows. Videos the factors do not hold (newer than the version) and
        views the fit already saw are left out."""
        fold = self.fold_in
        idx = watched.item_idx
        keep = (idx >= 0) & (idx < self.item_bias.size) & (watched.ts_ms > fold.since_ms)
        if not keep.any():
            return base
        idx = idx[keep]
        f = self.item_factors.shape[1]
        if j >= 0:
            prec = fold.precision[j].astype(np.float64)
            theta = np.append(self.user_factors[j], fold.user_bias[j]).astype(np.float64)
        else:
            prec = np.diag(fold.penalty.astype(np.float64))
            theta = np.append(np.zeros(f) if base is None else base, 0.0)
        age = (watched.ts_ms[keep] - items.publish_ms[idx]) / DAY_MS
        if self.age_cap_days > 0:
            age = np.clip(age, 0.0, self.age_cap_days)
        y = (target(watched.watch_ms[keep], items.duration_s[idx]) - fold.mu - self.age_slope * age
             - self.item_bias[idx])
        x = np.hstack([self.item_factors[idx], np.ones((idx.size, 1), np.float32)]).astype(np.float64)
        sol = np.linalg.solve(prec + fold.weight * (x.T @ x), prec @ theta + fold.weight * (x.T @ y))
        return sol[:f].astype(np.float32)

    def score(self, user_id: int, item_idx: np.ndarray, items: ItemTable | None = None,
              now_ms: int | None = None, seen_idx: np.ndarray | None = None,
              watched: Watched | None = None) -> np.ndarray:
        """b_item + p_userᵀ q_item (+ the age term at `now_ms`, from `items`' publish times) for
        dense indices; 0 for an unknown item (index -1), and for a user without a vector
        (`user_vector`: one the version does not know is read from `seen_idx`, the videos they
        were shown). An index past the factors (a video newer than the version) scores by the
        priors of its category and author in `items` (the table the indices point into), else 0.
        `watched`: the user's views since the version, folded into their vector (`FoldIn`)."""
        user = self.user_vector(user_id, seen_idx, watched, items)
        if user is None or item_idx.size == 0:
            return np.zeros(item_idx.size, np.float32)
        n = self.item_bias.size
        lo, hi = int(item_idx.min()), int(item_idx.max())
        if lo >= 0 and hi < n:  # every video known to the version: the request's usual case
            s = self.item_factors[item_idx] @ user + self.item_bias[item_idx]
        else:
            ok = (item_idx >= 0) & (item_idx < n)
            safe = np.where(ok, item_idx, 0)
            s = np.where(ok, self.item_factors[safe] @ user + self.item_bias[safe], 0.0).astype(np.float32)
            newer = np.flatnonzero(item_idx >= n)
            if newer.size and items is not None and self.category_ids is not None:
                s[newer] = self._prior_scores(user, items, item_idx[newer])
        if self.age_slope and items is not None and now_ms is not None:
            age = (now_ms - items.publish_ms[np.maximum(item_idx, 0)]).astype(np.float32)
            age *= np.float32(self.age_slope / DAY_MS)  # slope x days, capped at the log's ages
            bounds = sorted((0.0, self.age_slope * self.age_cap_days))
            np.maximum(age, np.float32(bounds[0]), out=age)  # (np.clip cost 8 µs more here)
            np.minimum(age, np.float32(bounds[1]), out=age)
            s = s + (age if lo >= 0 else np.where(item_idx >= 0, age, np.float32(0.0)))
        return np.asarray(s, np.float32)

    def _prior_scores(self, user: np.ndarray, items: ItemTable, idx: np.ndarray) -> np.ndarray:
        """The priors' score of videos the factors do not hold; a category or author the
        version never saw adds 0."""
        cat = _rows_of(self.category_ids, items.category[idx])
        author = _rows_of(self.author_ids, items.author_id[idx])
        known = cat >= 0
        c = np.where(known, cat, 0)
        s = np.where(known, self.category_factors[c] @ user + self.category_bias[c], 0.0)
        return s + np.where(author >= 0, self.author_bias[np.maximum(author, 0)], 0.0)


_PRIORS = ("category_ids", "category_factors", "category_bias", "author_ids", "author_bias")


def _rows_of(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Row of each id in ascending `sorted_ids`, -1 where absent."""
    j = np.minimum(np.searchsorted(sorted_ids, ids), max(sorted_ids.size - 1, 0))
    return np.where((sorted_ids.size > 0) & (sorted_ids[j] == ids), j, -1)
