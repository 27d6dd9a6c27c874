"""Warm start from what the registry holds: ONNX-only versions (from `make train`) and weights.npz."""
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from core.rank.features import CAT_FEATURES, NUM_FEATURES, SEQ_LEN
from core.registry.reader import ModelVersion

pytest.importorskip("pyarrow", reason="the loop extra is not installed (pip install -e '.[loop]')")
from training.loop.retrain import INPUTS, load_weights, ranker_like  # noqa: E402
from training.train import _export  # noqa: E402

VOCAB = {f: 6 for f in CAT_FEATURES}


def version(root: Path, files: dict[str, Path]) -> ModelVersion:
    return ModelVersion("ranker", "v0001", root, {"files": {n: "" for n in files},
                                                   "feature_order": {"vocab": VOCAB}})


def batch(n: int = 5) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return (torch.randint(0, 6, (n, len(CAT_FEATURES)), generator=g), torch.rand(n, len(NUM_FEATURES), generator=g),
            torch.randint(0, 6, (n, SEQ_LEN), generator=g), torch.randint(0, 6, (n, SEQ_LEN), generator=g))


def test_warm_start_from_onnx_alone_reproduces_the_model():
    torch.manual_seed(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = ranker_like(version(root, {}))
        _export(source.eval(), batch(2), list(INPUTS), ["heads"], root / "model.onnx")
        target = ranker_like(version(root, {}))
        start = load_weights(target, version(root, {"model.onnx": root / "model.onnx"}))
        assert start["fresh"] == [] and start["from"].endswith("model.onnx")
        with torch.no_grad():
            assert torch.allclose(source.eval()(*batch()), target.eval()(*batch()), atol=1e-6)


def test_warm_start_prefers_weights_npz():
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = ranker_like(version(root, {}))
        np.savez(root / "weights.npz", **{k: v.numpy() for k, v in source.state_dict().items()})
        target = ranker_like(version(root, {}))
        start = load_weights(target, version(root, {"weights.npz": root / "weights.npz"}))
        assert start["fresh"] == [] and start["from"].endswith("weights.npz")
        for k, v in source.state_dict().items():
            assert torch.equal(v, target.state_dict()[k])


def test_a_grown_item_vocabulary_keeps_the_old_rows_and_starts_new_ones_as_the_unknown_code():
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = ranker_like(version(root, {})).eval()
        np.savez(root / "weights.npz", **{k: v.numpy() for k, v in source.state_dict().items()})
        grown = VOCAB | {"item": 9}
        target = ranker_like(version(root, {}), grown).eval()
        start = load_weights(target, version(root, {"weights.npz": root / "weights.npz"}))
        assert start["fresh"] == []
        old = source.embs[5].weight.detach()
        new = target.embs[5].weight.detach()
        assert new.shape == (9, old.shape[1]) and torch.equal(new[:6], old)
        assert all(torch.equal(new[i], old[0]) for i in range(6, 9))
        # a new video's code in the grown model scores as the parent scored it (code 0)
        x = batch(3)
        cat_new, cat_old = x[0].clone(), x[0].clone()
        cat_new[:, 5], cat_old[:, 5] = 8, 0
        with torch.no_grad():
            assert torch.allclose(target(cat_new, *x[1:]), source(cat_old, *x[1:]), atol=1e-6)


def test_the_recall_prior_weight_follows_the_spread_of_the_fused_scores():
    from training.loop.retrain import prior_weight
    mv = ModelVersion("ranker", "v0001", Path("."), {"files": {}, "recall_prior_weight": 0.25})
    assert prior_weight(mv, {"holdout_fused_std": 0.01, "holdout_live_fused_std": 0.04}) == 0.0625
    assert prior_weight(mv, {}) == 0.25
    assert prior_weight(ModelVersion("ranker", "v0001", Path("."), {"files": {}}), {"holdout_fused_std": 1,
                                                                                   "holdout_live_fused_std": 2}) == 0.0
