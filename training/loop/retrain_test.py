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
