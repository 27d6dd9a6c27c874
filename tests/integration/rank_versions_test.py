"""A broken ranker version is refused with a clear reason; the live one keeps serving."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from services.common.errors import FailedPrecondition, NotFound
from services.common.registry import Registry
from services.rank.model_store import RankerStore
from training.publish import publish


@pytest.fixture
def registry(artifacts, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(artifacts[1] / "ranker", root / "ranker")
    return Registry(root)


def republish(registry: Registry, tmp_path, mutate) -> str:
    """Publish a copy of the live version after `mutate(folder, manifest)` changed it."""
    live = registry.open("ranker")
    work = tmp_path / "work"
    shutil.copytree(live.root, work)
    manifest = json.loads((work / "manifest.json").read_text())
    mutate(work, manifest)
    files = {f: work / f for f in manifest["files"]}
    keep = {k: v for k, v in manifest.items() if k not in ("files", "version", "name")}
    return publish(registry.root, "ranker", files, keep, make_live=False)


def corrupt_onnx(folder, manifest):
    (folder / "model.onnx").write_bytes(b"not a model")


def rename_input(folder, manifest):
    manifest["inputs"][0]["name"] = "categorical"


def break_golden(folder, manifest):
    with np.load(folder / "golden.npz") as g:
        data = {k: g[k] for k in g.files}
    data["expected"] = 1.0 - data["expected"]
    np.savez(folder / "golden.npz", **data)


def reorder_features(folder, manifest):
    manifest["feature_order"]["num"] = list(reversed(manifest["feature_order"]["num"]))


@pytest.mark.parametrize("mutate, reason", [
    (corrupt_onnx, "not a loadable ONNX model"),
    (rename_input, "inputs are"),
    (break_golden, "golden parity failed"),
    (reorder_features, "feature order"),
])
def test_broken_versions_are_refused_and_live_keeps_serving(registry, tmp_path, mutate, reason):
    store = RankerStore(registry)
    live = store.live.version
    bad = republish(registry, tmp_path, mutate)
    import asyncio
    with pytest.raises(FailedPrecondition, match=reason):
        asyncio.run(store.promote(bad))
    assert store.live.version == live and registry.live_version("ranker") == live


def test_checksum_mismatch_is_refused(registry):
    store = RankerStore(registry)
    (registry.root / "ranker" / store.live.version / "model.onnx").write_bytes(b"swapped")
    with pytest.raises(FailedPrecondition, match="checksum mismatch"):
        RankerStore(registry)


def test_pinned_versions(registry, tmp_path):
    import asyncio
    store = RankerStore(registry)
    other = republish(registry, tmp_path, lambda folder, manifest: None)
    assert asyncio.run(store.get(other)).version == other
    assert store.live.version != other
    with pytest.raises(NotFound):
        asyncio.run(store.get("v0099"))
