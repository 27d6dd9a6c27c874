"""A loaded scoring model version (ranker or pre-ranker), verified before it may serve.

Loading checks, in order: every file's sha256 (registry), the feature order the manifest
names against this server's assembly, the ONNX inputs/outputs against the manifest, the
golden parity sample (ONNX outputs equal the training framework's within tolerance), then
warms the session up. A version that fails any check is refused with the reason.

Two kinds of version load here behind the one interface scoring uses (`run` -> head
probabilities, `fuse`): a plain ONNX scorer (every ranker, the MLP / FM / LR pre-rankers),
and, where the manifest says `kind: "two_tower_prerank"`, a user-tower ONNX plus per-version
item vectors (`core.rank.two_tower_prerank.TwoTowerPrerank`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from core.errors import FailedPrecondition
from core.items import ItemTable
from core.onnx_session import check_signature, make_session
from core.rank.features import CAT_FEATURES, ITEM_DEFAULTS, NUM_FEATURES, SEQ_LEN, assemble, rows_for_user
from core.rank.watch import WatchModel
from core.registry.reader import ModelVersion

GOLDEN_RTOL, GOLDEN_ATOL = 1e-3, 1e-5
TWO_TOWER_PRERANK = "two_tower_prerank"  # manifest "kind" of a user tower + item vectors version


def _limits(order: dict) -> tuple[np.ndarray | None, tuple[int, int] | None]:
    vocab = order.get("vocab") or {}
    if not all(f in vocab for f in CAT_FEATURES):
        return None, None
    cat = np.array([int(vocab[f]) for f in CAT_FEATURES], dtype=np.int64)
    return cat, (int(vocab["item"]), int(vocab["category"]))


def require_close(got: np.ndarray, want: np.ndarray, failure: str) -> None:
    """Refuse (FailedPrecondition: `failure` and the largest difference) unless the served
    outputs equal the training framework's within the golden tolerance."""
    if got.shape != want.shape or not np.allclose(got, want, rtol=GOLDEN_RTOL, atol=GOLDEN_ATOL):
        diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
        raise FailedPrecondition(f"{failure} (max abs diff {diff:.3g})")


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    session: ort.InferenceSession
    items: ItemTable
    items_sha: str            # identifies the item table (models sharing it share assembly)
    inputs: tuple[str, ...]   # ONNX input names, e.g. ("cat", "num") or + ("seq_items", "seq_cats")
    heads: tuple[str, ...]
    weights: np.ndarray       # float32 [n_heads], fusion weights
    feature_defaults: dict    # unknown items' numeric features (manifest "feature_defaults")
    # Embedding sizes per categorical column (manifest vocab): codes beyond them (an item or
    # author newer than the model) are read as 0, unknown, instead of indexing out of range.
    cat_limits: np.ndarray | None = None
    seq_limits: tuple[int, int] | None = None  # (item, category) sizes for seq_items / seq_cats
    # Weight of the recall order in the fused score (manifest "recall_prior_weight"; 0 when
    # absent): fused = heads @ weights + prior_weight * recall_prior(position), see scoring.
    prior_weight: float = 0.0
    # The watch model shipped with the version (core/rank/watch.py) and its weight in the
    # fused score (manifest "watch_weight"): fused += watch_weight * watch.score(user, item).
    watch: WatchModel | None = None
    watch_weight: float = 0.0

    @classmethod
    def load(cls, mv: ModelVersion, threads: int = 1) -> LoadedModel:
        if cls is LoadedModel and mv.manifest.get("kind") == TWO_TOWER_PRERANK:
            from core.rank.two_tower_prerank import TwoTowerPrerank  # it subclasses this one
            return TwoTowerPrerank.load(mv, threads)
        where = f"{mv.name}/{mv.version}"
        order = mv.manifest.get("feature_order", {})
        inputs = tuple(d["name"] for d in mv.manifest.get("inputs", []))
        if (tuple(order.get("cat", ())) != CAT_FEATURES or tuple(order.get("num", ())) != NUM_FEATURES
                or ("seq_items" in inputs and order.get("seq_len") != SEQ_LEN)):
            raise FailedPrecondition(f"{where}: feature order differs from this server's assembly")
        session = make_session(mv.file("model.onnx"), threads)
        check_signature(session, mv.manifest, where)
        heads = tuple(mv.manifest["heads"])
        weights = np.array([mv.manifest["fusion_weights"].get(h, 0.0) for h in heads], np.float32)
        cat_limits, seq_limits = _limits(order)
        model = cls(mv.name, mv.version, session, ItemTable.load(mv.file("items.npz")),
                    mv.manifest["files"]["items.npz"], inputs, heads, weights,
                    {**ITEM_DEFAULTS, **mv.manifest.get("feature_defaults", {})}, cat_limits, seq_limits,
                    float(mv.manifest.get("recall_prior_weight", 0.0)),
                    WatchModel.of(mv), float(mv.manifest.get("watch_weight", 0.0)),
                    **cls._parts(mv, where, session, heads, order))
        model._check_golden(mv, where)
        model._warm_up()
        return model

    @classmethod
    def _parts(cls, mv: ModelVersion, where: str, session: ort.InferenceSession, heads: tuple[str, ...],
               order: dict) -> dict:
        """The fields a kind of version adds to these (a plain ONNX scorer adds none)."""
        return {}

    def _check_golden(self, mv: ModelVersion, where: str) -> None:
        with np.load(mv.file("golden.npz"), allow_pickle=False) as g:
            got = self.session.run(None, {k: g[k] for k in self.inputs})[0]
            want = g["expected"]
        require_close(got, want, f"{where}: golden parity failed")

    def _warm_up(self) -> None:
        for n in (1, min(200, len(self.items)), min(1000, len(self.items))):
            idx = np.arange(n, dtype=np.int64)
            rows = rows_for_user(self.items, idx, region=0, age_bucket=0, gender=0, device=0, hour=-1,
                                 recent_items=self.items.item_id[:5],
                                 followed_authors=np.zeros(0, np.int64), now_ms=0)
            self.run(assemble(self.items, idx, rows))

    def run(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Head probabilities [n, n_heads] for assembled features (extra inputs are ignored)."""
        return self.session.run(None, self._feeds(features))[0]

    def _feeds(self, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's inputs, codes beyond its vocabularies read as unknown."""
        feeds = {k: features[k] for k in self.inputs}
        if self.cat_limits is not None and np.any(feeds["cat"] >= self.cat_limits):
            feeds["cat"] = np.where(feeds["cat"] < self.cat_limits, feeds["cat"], 0)
        if self.seq_limits is not None and "seq_items" in feeds:
            for key, limit in zip(("seq_items", "seq_cats"), self.seq_limits):
                if feeds[key].size and feeds[key].max() >= limit:
                    feeds[key] = np.where(feeds[key] < limit, feeds[key], 0)
        return feeds

    def fuse(self, heads: np.ndarray) -> np.ndarray:
        return heads @ self.weights
