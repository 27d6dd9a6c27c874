"""Matrix-factorisation channel: implicit ALS item factors, the user's vector folded in online.

Training fits implicit-feedback ALS (Hu, Koren and Volinsky, ICDM 2008; training/mf.py) on
the log and keeps only the item factors Y. A user's vector is not stored: on each request it
is solved from the user's fresh state, exactly as one ALS user step would solve it,

    x = (YᵀY + Yᵀ (C - I) Y + λI)⁻¹ Yᵀ C p,    c_i = 1 + alpha * r_i,  p_i = 1,

over the items the user met: r = 1 for an engaged item (the recent sequence), r =
`impression_weight` for one only shown (the seen set), as the training matrix weighs them.
So a like a moment ago moves the vector, a user the model never saw still gets one, and
one version serves every user. Offline the folded vectors rank as well as the fitted ones
(KuaiRand sample, NDCG@10 0.0326 against 0.0322).

Why a second embedding channel beside the two-tower: the two models find different items (an
ensemble of both beats each; README, "Quality"). Items published after the version have no
factor and are never returned here (the two-tower and fresh channels cover them).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from core.items import ItemTable
from core.recall.ann import build_index
from core.recall.channels.base import Channel, ChannelRequest, ChannelResult
from core.registry.reader import ModelVersion

FILE = "mf.npz"
INDEX_FILE = "mf_index.faiss"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MFModel:
    """Item factors (row i = dense item i of the version's first `len(factors)` items), their
    Gram matrix and the confidence settings the factors were fitted with."""

    factors: np.ndarray  # float32 [n, f]
    gram: np.ndarray     # float32 [f, f]: YᵀY (summed in float64)
    alpha: float
    regularization: float
    impression_weight: float
    index: faiss.Index

    @classmethod
    def build(cls, factors: np.ndarray, alpha: float, regularization: float,
              impression_weight: float) -> MFModel:
        factors = np.ascontiguousarray(factors, dtype=np.float32)
        index, _ = build_index(factors)  # exact up to 100k items, IVF beyond (ann.py)
        return cls(factors, _gram(factors), float(alpha), float(regularization), float(impression_weight), index)

    def save(self, folder: Path) -> dict:
        """Writes FILE and INDEX_FILE (faiss keeps an IVF index's nprobe in the file);
        returns the manifest entry."""
        np.savez(folder / FILE, factors=self.factors, alpha=self.alpha, regularization=self.regularization,
                 impression_weight=self.impression_weight)
        faiss.write_index(self.index, str(folder / INDEX_FILE))
        return {"factors": int(self.factors.shape[1]), "items": int(self.factors.shape[0]), "alpha": self.alpha,
                "regularization": self.regularization, "impression_weight": self.impression_weight}

    @staticmethod
    def files(folder: Path) -> dict[str, Path]:
        """What `save(folder)` wrote, by the name a version's manifest lists it under."""
        return {FILE: folder / FILE, INDEX_FILE: folder / INDEX_FILE}

    @classmethod
    def of(cls, mv: ModelVersion) -> MFModel | None:
        """The version's factors, None where it has none (trained before the channel)."""
        return cls.load(mv) if FILE in mv.manifest.get("files", {}) else None

    @classmethod
    def load(cls, mv: ModelVersion) -> MFModel:
        files = mv.manifest.get("files", {})
        if FILE not in files:
            raise ValueError(f"{mv.name}/{mv.version}: no {FILE} (the mf channel needs a version "
                             "trained with it; retrain, or drop mf from RECALL_CHANNELS)")
        with np.load(mv.file(FILE), allow_pickle=False) as z:
            factors = np.ascontiguousarray(z["factors"], dtype=np.float32)
            settings = (float(z["alpha"]), float(z["regularization"]), float(z["impression_weight"]))
        if INDEX_FILE in files:
            index = faiss.read_index(str(mv.file(INDEX_FILE)))
        else:
            index, _ = build_index(factors)
        if index.ntotal != factors.shape[0]:
            raise ValueError(f"{mv.name}/{mv.version}: mf index has {index.ntotal} vectors, factors {factors.shape[0]}")
        return cls(factors, _gram(factors), *settings, index)

    def user_vector(self, engaged: np.ndarray, shown: np.ndarray) -> np.ndarray | None:
        """The ALS user step over dense indices `engaged` (r = 1) and `shown` (r =
        impression_weight; those also engaged count once, as engaged). None without history."""
        n = self.factors.shape[0]
        engaged = np.unique(engaged[(engaged >= 0) & (engaged < n)])
        shown = shown[(shown >= 0) & (shown < n)]
        shown = np.setdiff1d(shown, engaged) if self.impression_weight > 0 else shown[:0]
        items = np.concatenate([engaged, shown])
        if items.size == 0:
            return None
        # float32: at the seen set's cap (1,000 items) the float64 build took 2.6 ms, this 0.8
        r = np.concatenate([np.ones(engaged.size, np.float32), np.full(shown.size, self.impression_weight, np.float32)])
        c = 1.0 + np.float32(self.alpha) * r
        y = self.factors[items]
        ridge = np.float32(self.regularization) * np.eye(self.gram.shape[0], dtype=np.float32)
        a = self.gram + (y.T * (c - 1.0)) @ y + ridge
        return np.linalg.solve(a, y.T @ c)

    def search(self, user_vec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Dense indices and scores of the best `k` items by inner product."""
        k = min(k, self.index.ntotal)
        scores, rows = self.index.search(user_vec.astype(np.float32)[None, :], k)
        ok = rows[0] >= 0
        return rows[0][ok], scores[0][ok]


def _gram(factors: np.ndarray) -> np.ndarray:
    y = factors.astype(np.float64)
    return (y.T @ y).astype(np.float32)


class MFChannel(Channel):
    """Serves nothing (with a warning) while the live item-CF version carries no factors: a
    registry trained before this channel existed keeps the recall service up, with the
    other channels."""

    name = "mf"

    def __init__(self, model: MFModel | None, items: ItemTable, version: str = ""):
        self.swap(model, items, version)

    def swap(self, model: MFModel | None, items: ItemTable, version: str = "") -> None:
        """Serve another version: one assignment, so a request sees the old or the new pair.
        The item table may have grown past the factors (videos published since): those rows
        have no factor."""
        if model is not None and model.factors.shape[0] > len(items):
            raise ValueError(f"mf factors have {model.factors.shape[0]} rows, item table {len(items)}")
        if model is None:
            log.warning("item_cf/%s has no %s: the mf channel serves nothing until a version with "
                        "it is live (retrain, or drop mf from RECALL_CHANNELS)", version, FILE)
        self._pair = (model, items)
        self.version = version

    @property
    def model(self) -> MFModel | None:
        return self._pair[0]

    def load_version(self, mv: ModelVersion) -> None:
        self.swap(MFModel.of(mv), ItemTable.load(mv.file("items.npz")), mv.version)

    @classmethod
    def load(cls, mv: ModelVersion) -> MFChannel:
        return cls(MFModel.of(mv), ItemTable.load(mv.file("items.npz")), mv.version)

    def top(self, recent_items: np.ndarray, seen_items: np.ndarray, k: int) -> ChannelResult:
        """The best `k` items (ids) for a user with these recent (engaged) and seen ids."""
        model, items = self._pair
        if model is None:
            return ChannelResult.empty()
        vec = model.user_vector(items.index_of(recent_items), items.index_of(seen_items))
        if vec is None:
            return ChannelResult.empty()
        idx, scores = model.search(vec, k)
        return ChannelResult(items.item_id[idx], scores.astype(np.float32))

    async def retrieve(self, request: ChannelRequest) -> ChannelResult:
        return self.top(request.state.recent_items, request.state.seen_items, request.fetch)
