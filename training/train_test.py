"""`python -m training.train --ranker NAME --prerank NAME`: the named architectures are
trained, published with their names in the manifest, and load in the rank service's loader
(signature, feature order, golden parity) like the defaults."""
from __future__ import annotations

import numpy as np
import pytest

from core.rank.model import LoadedModel
from core.registry.reader import Registry
from training import train
from training.world import WorldConfig, generate


def test_the_named_ranker_and_pre_ranker_are_published_and_load(tmp_path):
    generate(WorldConfig(n_users=60, n_videos=200, n_authors=20, days=4), progress=False).save(tmp_path / "world")
    assert train.main(["--world", str(tmp_path / "world"), "--registry", str(tmp_path / "models"), "--epochs", "1",
                       "--ranker", "ple", "--prerank", "fm"]) == 0
    registry = Registry(tmp_path / "models")
    ranker, prerank = registry.open("ranker"), registry.open("prerank")
    assert ranker.manifest["architecture"] == "ple" and ranker.manifest["hyperparameters"]["shared_experts"] == 2
    assert prerank.manifest["architecture"] == "fm" and prerank.manifest["hyperparameters"] == {"emb": 8}
    assert [d["name"] for d in ranker.manifest["inputs"]] == ["cat", "num", "seq_items", "seq_cats"]
    for mv in (ranker, prerank):
        assert LoadedModel.load(mv).heads == tuple(mv.manifest["heads"])


def test_the_two_tower_pre_ranker_is_published_as_user_tower_plus_item_vectors_and_serves(tmp_path):
    from core.context import RequestContext
    from core.rank import scoring
    from core.rank.two_tower_prerank import TwoTowerPrerank
    from core.store.user_state import UserStateData
    generate(WorldConfig(n_users=60, n_videos=200, n_authors=20, days=4), progress=False).save(tmp_path / "world")
    assert train.main(["--world", str(tmp_path / "world"), "--registry", str(tmp_path / "models"), "--epochs", "1",
                       "--prerank", "two_tower"]) == 0
    registry = Registry(tmp_path / "models")
    mv = registry.open("prerank")
    assert (mv.manifest["kind"], mv.manifest["architecture"]) == ("two_tower_prerank", "two_tower")
    assert [d["name"] for d in mv.manifest["inputs"]] == ["cat", "seq_items", "seq_cats"]
    assert set(mv.manifest["files"]) == {"model.onnx", "item_vectors.npy", "items.npz", "golden.npz"}
    prerank, ranker = LoadedModel.load(mv), LoadedModel.load(registry.open("ranker"))
    assert isinstance(prerank, TwoTowerPrerank) and prerank.items_sha == ranker.items_sha
    assert prerank.item_vectors.shape[0] == len(prerank.items) + 1
    ids = prerank.items.item_id[:150]
    state = UserStateData(known=True, recent_items=ids[:5], region=1)
    scored = scoring.score(RequestContext(user_id=3), state, ids, 0, ranker, prerank, keep=40, top_k=10)
    assert scored.prerank_ran and scored.kept == 40 and scored.item_ids.size == 10
    # the recall order as a prior (manifest "recall_prior_weight"): dominant, it keeps the order
    assert mv.manifest["recall_prior_weight"] == ranker.prior_weight == train.DEFAULT_RECALL_PRIOR
    import dataclasses
    loud = [dataclasses.replace(m, prior_weight=1e4) for m in (ranker, prerank)]
    scored = scoring.score(RequestContext(user_id=3), state, ids, 0, *loud, keep=40, top_k=10)
    assert scored.item_ids.tolist() == ids[:10].tolist()
    # a pre-ranker of another kind distilled from the live ranker, beside this one
    from training import prerank_version
    from training.world import World
    world = World.load(tmp_path / "world")
    mlp = prerank_version.train_and_publish(tmp_path / "models", world, "mlp", max_rows=2000)
    assert registry.live_version("prerank") == mv.version != mlp
    assert type(LoadedModel.load(registry.open("prerank", mlp))) is LoadedModel
    other = generate(WorldConfig(n_users=60, n_videos=150, n_authors=20, days=4), progress=False)
    with pytest.raises(ValueError, match="was not trained on this world"):
        prerank_version.train_and_publish(tmp_path / "models", other, "two_tower", max_rows=2000)


def test_an_unknown_architecture_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train.main(["--world", str(tmp_path), "--ranker", "wide_and_deep"])
    assert "invalid choice: 'wide_and_deep'" in capsys.readouterr().err


def test_serving_versions_learn_from_every_row_and_load(tmp_path):
    """--serving: no test window (so no test metrics), the whole log and catalog in the
    versions, golden parity from the last training rows; the versions load and serve."""
    world = generate(WorldConfig(n_users=60, n_videos=200, n_authors=20, days=4), progress=False)
    world.save(tmp_path / "world")
    assert train.main(["--world", str(tmp_path / "world"), "--registry", str(tmp_path / "models"), "--epochs", "1",
                       "--serving"]) == 0
    registry = Registry(tmp_path / "models")
    ranker = registry.open("ranker")
    assert ranker.manifest["data_range"]["cutoff_ms"] == ranker.manifest["data_range"]["end_ms"] == world.config.end_ms
    assert ranker.manifest["metrics"] == {}
    for name in ("ranker", "prerank"):
        LoadedModel.load(registry.open(name))  # golden parity on training rows
    # the ranker's version ships the watch model, fitted on every user with a row
    loaded = LoadedModel.load(ranker)
    assert loaded.watch is not None and loaded.watch_weight == train.DEFAULT_WATCH_WEIGHT
    assert set(loaded.watch.user_ids.tolist()) == set(np.unique(world.impressions["user_id"]).tolist())
    split = train.serving_split(world)
    assert len(split.test) == 0 and len(split.train) == world.impressions["ts_ms"].size
