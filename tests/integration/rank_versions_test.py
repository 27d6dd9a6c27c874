"""A broken ranker version is refused with a clear reason; the live one keeps serving."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.errors import FailedPrecondition, NotFound
from core.rank.model_store import ModelSlot
from core.registry.reader import Registry
from tests.registry_helpers import republish


@pytest.fixture
def registry(artifacts, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(artifacts[1] / "ranker", root / "ranker")
    return Registry(root)


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
    store = ModelSlot(registry, "ranker")
    live = store.live.version
    bad = republish(registry, "ranker", mutate)
    import asyncio
    with pytest.raises(FailedPrecondition, match=reason):
        asyncio.run(store.promote(bad))
    assert store.live.version == live and registry.live_version("ranker") == live
    assert reason in store.errors[bad]
    # the same version named in the alias file (a ConfigMap edit) is refused the same way
    registry.set_live("ranker", bad)
    asyncio.run(store.sync())
    assert store.live.version == live and reason in store.errors[bad]


def test_checksum_mismatch_is_refused(registry):
    store = ModelSlot(registry, "ranker")
    (registry.root / "ranker" / store.live.version / "model.onnx").write_bytes(b"swapped")
    with pytest.raises(FailedPrecondition, match="checksum mismatch"):
        ModelSlot(registry, "ranker")


def test_pinned_versions(registry, tmp_path):
    import asyncio
    store = ModelSlot(registry, "ranker")
    other = republish(registry, "ranker")
    assert asyncio.run(store.get(1, other)).version == other
    assert store.live.version != other
    with pytest.raises(NotFound):
        asyncio.run(store.get(1, "v0099"))


def test_canary_share_alias_sync_and_rollback(registry, tmp_path):
    import asyncio
    store = ModelSlot(registry, "ranker")
    v1 = store.live.version
    v2 = republish(registry, "ranker")
    asyncio.run(store.set_canary(v2, 10))
    share = np.mean([store.route(u).version == v2 for u in range(1, 10_001)]) * 100
    assert abs(share - 10) <= 3
    assert registry.aliases("ranker")["canary"] == v2
    # a promote of the canary ends the canary; rollback returns to the previous version
    assert asyncio.run(store.promote(v2)) == v1
    assert store.canary is None and store.live.version == v2
    assert asyncio.run(store.rollback()) == (v1, v2)
    assert store.live.version == v1 == registry.live_version("ranker")
    # editing the alias file (as a ConfigMap update would) rolls the version
    registry.set_live("ranker", v2)
    asyncio.run(store.sync())
    assert store.live.version == v2


def test_two_stage_scoring(artifacts):
    from core.context import RequestContext
    from core.rank import scoring
    from core.rank.model import LoadedModel
    from core.store.user_state import UserStateData

    reg = Registry(artifacts[1])
    ranker, prerank = LoadedModel.load(reg.open("ranker")), LoadedModel.load(reg.open("prerank"))
    ids = ranker.items.item_id[:1000]
    state = UserStateData(known=True, recent_items=ids[:10])
    out = scoring.score(RequestContext(user_id=3), state, ids, 0, ranker, prerank, keep=200, top_k=50)
    assert out.prerank_ran and out.kept == 200 and out.item_ids.size == 50
    assert np.all(np.isin(out.item_ids, ids)) and np.all(np.diff(out.fused) <= 0)
    assert out.heads.shape == (50, len(ranker.heads))
    small = scoring.score(RequestContext(user_id=3), state, ids[:150], 0, ranker, prerank, keep=200)
    assert not small.prerank_ran and small.kept == 150 and small.item_ids.size == 150
    # unknown ids are scored with defaults and counted, not dropped
    odd = scoring.score(RequestContext(user_id=3), state, np.array([ids[0], 10**9]), 0, ranker)
    assert odd.unknown == 1 and odd.item_ids.size == 2


def test_a_replaced_version_is_kept_for_running_requests_then_freed_on_the_loader(registry, monkeypatch):
    import asyncio
    import threading
    import weakref

    from core.rank import model_store
    monkeypatch.setattr(model_store, "RETIRE_AFTER_S", 0.05)
    store = ModelSlot(registry, "ranker")
    v2 = republish(registry, "ranker")
    freed_on: list[str] = []

    async def swap() -> weakref.ref:
        old = store.live
        weakref.finalize(old, lambda: freed_on.append(threading.current_thread().name))
        ref = weakref.ref(old)
        del old
        await store.promote(v2)
        assert ref() is not None and not freed_on  # a request that started on it may still run
        await asyncio.sleep(0.5)
        return ref

    ref = asyncio.run(swap())
    assert ref() is None
    # freed on the loader thread, not on the event loop that serves requests
    assert freed_on and freed_on[0].startswith("model-loader")


def test_versions_load_at_normal_priority():
    """Not SCHED_IDLE: an idle-class loader never finishes beside busy neighbours
    (tests/reliability/swap_beside_busy_neighbours_test.py)."""
    import os

    from core.rank import model_store
    if not hasattr(os, "sched_getscheduler"):
        pytest.skip("scheduling classes are Linux only")
    assert model_store._LOADER.submit(os.sched_getscheduler, 0).result() == os.SCHED_OTHER
