"""A loaded ranker version: ONNX session, item table, fusion weights, verified on load.

Loading checks, in order: every file's sha256 (registry), the ONNX inputs/outputs against
the manifest, the golden parity sample (ONNX outputs equal the training framework's within
tolerance), then warms the session up. A version that fails any check is refused.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from services.common.context import RequestContext
from services.common.errors import FailedPrecondition
from services.common.items import ItemTable
from services.common.onnx_session import check_signature, make_session
from services.common.registry import ModelVersion
from services.common.user_state import UserStateData
from services.rank.features import CAT_FEATURES, NUM_FEATURES, SEQ_LEN, assemble, rows_for_user

GOLDEN_RTOL, GOLDEN_ATOL = 1e-3, 1e-5
INPUTS = ("cat", "num", "seq_items", "seq_cats")


@dataclass(frozen=True)
class Scores:
    fused: np.ndarray   # float32 [n]
    heads: np.ndarray   # float32 [n, n_heads]
    unknown: int        # candidates not in the item table


@dataclass(frozen=True)
class LoadedRanker:
    version: str
    session: ort.InferenceSession
    items: ItemTable
    heads: tuple[str, ...]
    weights: np.ndarray  # float32 [n_heads]

    @classmethod
    def load(cls, mv: ModelVersion, threads: int = 1) -> LoadedRanker:
        where = f"{mv.name}/{mv.version}"
        order = mv.manifest.get("feature_order", {})
        if (tuple(order.get("cat", ())) != CAT_FEATURES or tuple(order.get("num", ())) != NUM_FEATURES
                or order.get("seq_len") != SEQ_LEN):
            raise FailedPrecondition(f"{where}: feature order differs from this server's assembly")
        session = make_session(mv.file("model.onnx"), threads)
        check_signature(session, mv.manifest, where)
        heads = tuple(mv.manifest["heads"])
        weights = np.array([mv.manifest["fusion_weights"].get(h, 0.0) for h in heads], np.float32)
        ranker = cls(mv.version, session, ItemTable.load(mv.file("items.npz")), heads, weights)
        ranker._check_golden(mv, where)
        ranker._warm_up()
        return ranker

    def _check_golden(self, mv: ModelVersion, where: str) -> None:
        with np.load(mv.file("golden.npz"), allow_pickle=False) as g:
            got = self.session.run(None, {k: g[k] for k in INPUTS})[0]
            want = g["expected"]
        if got.shape != want.shape or not np.allclose(got, want, rtol=GOLDEN_RTOL, atol=GOLDEN_ATOL):
            diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
            raise FailedPrecondition(f"{where}: golden parity failed (max abs diff {diff:.3g})")

    def _warm_up(self) -> None:
        n = min(200, len(self.items))
        idx = np.arange(n, dtype=np.int64)
        rows = rows_for_user(self.items, idx, region=0, age_bucket=0, gender=0, device=0, hour=-1,
                             recent_items=self.items.item_id[:5], followed_authors=np.zeros(0, np.int64),
                             now_ms=0)
        self.session.run(None, assemble(self.items, idx, rows))

    def score(self, context: RequestContext, state: UserStateData, item_ids: np.ndarray,
              now_ms: int) -> Scores:
        idx = self.items.index_of(item_ids)
        rows = rows_for_user(self.items, idx, region=context.region or state.region,
                             age_bucket=state.age_bucket, gender=state.gender,
                             device=context.device, hour=context.local_hour,
                             recent_items=state.recent_items,
                             followed_authors=state.followed_authors, now_ms=now_ms)
        heads = self.session.run(None, assemble(self.items, idx, rows))[0]
        return Scores(heads @ self.weights, heads, int((idx < 0).sum()))
