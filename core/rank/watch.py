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
`watch_weight`); a user the version does not know scores 0 everywhere, so their order is the
ranker's alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.registry.reader import ModelVersion

FILE = "watch_mf.npz"


@dataclass(frozen=True)
class WatchModel:
    """Row i of the item arrays = dense item i of the version's first `len(item_bias)` items;
    `user_ids` ascending, row j of `user_factors` belongs to user_ids[j]."""

    item_factors: np.ndarray  # float32 [n_items, f]
    item_bias: np.ndarray     # float32 [n_items]
    user_ids: np.ndarray      # int64 [n_users], sorted
    user_factors: np.ndarray  # float32 [n_users, f]

    @classmethod
    def build(cls, item_factors: np.ndarray, item_bias: np.ndarray, user_ids: np.ndarray,
              user_factors: np.ndarray) -> WatchModel:
        order = np.argsort(user_ids, kind="stable")
        return cls(np.ascontiguousarray(item_factors, dtype=np.float32),
                   np.ascontiguousarray(item_bias, dtype=np.float32),
                   np.asarray(user_ids, np.int64)[order],
                   np.ascontiguousarray(np.asarray(user_factors)[order], dtype=np.float32))

    def save(self, folder: Path) -> dict:
        """Writes FILE; returns the manifest entry."""
        np.savez(folder / FILE, item_factors=self.item_factors, item_bias=self.item_bias,
                 user_ids=self.user_ids, user_factors=self.user_factors)
        return {"factors": int(self.item_factors.shape[1]), "items": int(self.item_bias.size),
                "users": int(self.user_ids.size)}

    @classmethod
    def of(cls, mv: ModelVersion) -> WatchModel | None:
        """The version's watch model, None where it has none (trained before it existed, or
        on a log without watch times)."""
        if FILE not in mv.manifest.get("files", {}):
            return None
        with np.load(mv.file(FILE), allow_pickle=False) as z:
            return cls(np.ascontiguousarray(z["item_factors"], np.float32),
                       np.ascontiguousarray(z["item_bias"], np.float32),
                       z["user_ids"].astype(np.int64), np.ascontiguousarray(z["user_factors"], np.float32))

    def user_row(self, user_id: int) -> int:
        """The user's row, -1 for a user the version does not know."""
        j = int(np.searchsorted(self.user_ids, user_id))
        return j if j < self.user_ids.size and self.user_ids[j] == user_id else -1

    def score(self, user_id: int, item_idx: np.ndarray) -> np.ndarray:
        """b_item + p_userᵀ q_item for dense indices; 0 for an unknown user, and for an index
        past the factors (a video newer than the version)."""
        j = self.user_row(user_id)
        ok = (item_idx >= 0) & (item_idx < self.item_bias.size)
        if j < 0 or not ok.any():
            return np.zeros(item_idx.size, np.float32)
        safe = np.where(ok, item_idx, 0)
        s = self.item_factors[safe] @ self.user_factors[j] + self.item_bias[safe]
        return np.where(ok, s, 0.0).astype(np.float32)
