"""A two-tower pre-ranker version: the user tower (ONNX) runs once per request, every
candidate's vector comes precomputed with the version, and its score per head is one dot
product and a sigmoid.

The version holds `model.onnx` (the user tower: `cat`, `seq_items`, `seq_cats` ->
`user_vec` [B, H, K]), `item_vectors.npy` ([item vocabulary, H, K], row = the item code of
`cat`, row 0 = an item the version does not know) and the manifest's `two_tower` section
(which `cat` columns the user tower reads, which column is the item code). The biases ride
in the vectors (training/models/two_tower_prerank.py), so

    heads[n, h] = sigmoid(user_vec[h] . item_vectors[item code of n, h])

and the heads fuse with the manifest's weights like any pre-ranker's: scoring sees the same
`run` / `fuse` interface as for a plain ONNX scorer. Loading checks both parts against the
training framework: the user tower on the golden rows, then user tower x item vectors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from core.errors import FailedPrecondition
from core.rank.features import CAT_FEATURES
from core.rank.model import LoadedModel, require_close
from core.registry.reader import ModelVersion

EXPECTED_USER = "expected_user_vec"  # golden.npz: the PyTorch user tower's output on the golden rows


@dataclass(frozen=True)
class TwoTowerPrerank(LoadedModel):
    item_vectors: np.ndarray | None = None   # float32 [item vocabulary, H, K]
    user_cols: np.ndarray | None = None      # int64: the `cat` columns the user tower reads
    item_col: int = 0                        # the `cat` column holding the item code

    @classmethod
    def _parts(cls, mv: ModelVersion, where: str, session: ort.InferenceSession, heads: tuple[str, ...],
               order: dict) -> dict:
        spec = mv.manifest.get("two_tower", {})
        user, item = list(spec.get("user_features", [])), spec.get("item_key", "")
        unknown = sorted(set(user + [item]) - set(CAT_FEATURES))
        if not user or unknown:
            raise FailedPrecondition(f"{where}: two_tower features {unknown or 'missing'} are not in this "
                                     f"server's assembly")
        vectors = np.load(mv.file(spec.get("item_vectors", "item_vectors.npy")), allow_pickle=False)
        dim = session.get_outputs()[0].shape[-1]
        items = (order.get("vocab") or {}).get("item")
        if (vectors.ndim != 3 or vectors.dtype != np.float32 or vectors.shape[1] != len(heads)
                or (isinstance(dim, int) and vectors.shape[2] != dim) or (items and vectors.shape[0] != items)):
            raise FailedPrecondition(f"{where}: item vectors are {vectors.dtype} {list(vectors.shape)}, expected "
                                     f"float32 [{items or 'items'}, {len(heads)}, {dim}]")
        return {"item_vectors": vectors, "user_cols": np.array([CAT_FEATURES.index(f) for f in user], np.int64),
                "item_col": CAT_FEATURES.index(item)}

    def _check_golden(self, mv: ModelVersion, where: str) -> None:
        with np.load(mv.file("golden.npz"), allow_pickle=False) as g:
            rows = {k: g[k] for k in g.files}
        user_vec = self.session.run(None, {k: rows[k] for k in self.inputs})[0]
        require_close(user_vec, rows[EXPECTED_USER], f"{where}: user tower golden parity failed")
        require_close(self.run(rows), rows["expected"], f"{where}: golden parity of user tower x item vectors failed")

    def run(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Head probabilities [n, H]. The rank service's rows are one user's (the user tower
        runs once); rows of several users (training's, the golden sample) run it per row."""
        feeds = self._feeds(features)
        n = feeds["cat"].shape[0]
        if n == 0:
            return np.zeros((0, len(self.heads)), np.float32)
        items = self.item_vectors[feeds["cat"][:, self.item_col]]
        if self._one_user(feeds):
            user = self.session.run(None, {k: v[:1] for k, v in feeds.items()})[0][0]
            logits = np.einsum("nhk,hk->nh", items, user)
        else:
            logits = np.einsum("nhk,nhk->nh", items, self.session.run(None, feeds)[0])
        # clipped: exp of a float32 beyond ~88 overflows, and the probability is 0 or 1 by then
        return (1.0 / (1.0 + np.exp(-np.clip(logits, -60.0, 60.0)))).astype(np.float32)

    def _one_user(self, feeds: dict[str, np.ndarray]) -> bool:
        """Every row has row 0's user side (what the user tower reads)."""
        user = feeds["cat"][:, self.user_cols]
        return bool((user == user[0]).all() and all((feeds[k] == feeds[k][0]).all()
                                                    for k in self.inputs if k != "cat"))
