"""The two-tower pre-ranker as served (user tower ONNX once + precomputed item vectors + a dot
product per head) computes what the PyTorch model computes, at batch 1, 37 and 1024, for one
user's candidates and for rows of many users; a version whose parts disagree is refused,
naming the part."""
from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch

from core.errors import FailedPrecondition
from core.rank.features import CAT_FEATURES, NUM_FEATURES, assemble, rows_for_user, vocab_sizes
from core.rank.model import LoadedModel
from core.rank.two_tower_prerank import EXPECTED_USER, TwoTowerPrerank
from core.registry.reader import ModelVersion, Registry
from training import data as data_mod
from training import train
from training.models import zoo
from training.prerank_export import publish_prerank
from training.world import WorldConfig, generate


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    """(registry root, the PyTorch model, the dataset) of a published two-tower pre-ranker
    (untrained: parity is what is tested, not quality)."""
    world = generate(WorldConfig(seed=3, n_users=60, n_authors=20, n_videos=200, days=4), progress=False)
    ds = data_mod.build(world)
    c = world.config
    vocab = vocab_sizes(ds.items, c.n_regions, c.n_authors, c.n_categories)
    torch.manual_seed(0)
    model, _ = zoo.build_prerank("two_tower", [vocab[f] for f in CAT_FEATURES], len(NUM_FEATURES), len(ds.heads),
                                 dim=4, hidden=16)
    root = tmp_path_factory.mktemp("registry")
    publish_prerank(root, model.eval(), ds, "two_tower", vocab, {h: 1.0 for h in ds.heads}, teacher="test",
                    label_weight=0.5, data_range={}, metrics={}, losses=[])
    return root, model, ds


def torch_heads(model, features: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return model(*(torch.from_numpy(np.array(features[n])) for n in zoo.input_names(model))).numpy()


@pytest.mark.parametrize("batch", [1, 37, 1024])
def test_one_users_candidates_score_as_in_pytorch(version, batch):
    root, model, ds = version
    served = LoadedModel.load(Registry(root).open("prerank"))
    assert isinstance(served, TwoTowerPrerank)
    rng = np.random.default_rng(batch)
    ids = rng.choice(np.append(ds.items.item_id, [10**7, 10**7 + 1]), batch)  # unknown items too
    idx = served.items.index_of(ids)
    rows = rows_for_user(served.items, idx, region=2, age_bucket=3, gender=1, device=2, hour=21,
                         recent_items=ds.items.item_id[rng.choice(len(ds.items), 12)],
                         followed_authors=ds.items.author_id[:2], now_ms=ds.cutoff_ms)
    features = assemble(served.items, idx, rows, served.feature_defaults)
    np.testing.assert_allclose(served.run(features), torch_heads(model, features), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 37, 1024])
def test_rows_of_many_users_score_as_in_pytorch(version, batch):
    root, model, ds = version
    served = LoadedModel.load(Registry(root).open("prerank"))
    rows = ds.train.take(np.arange(len(ds.train)) < batch)
    features = assemble(served.items, rows.item_idx, rows.users, served.feature_defaults)
    assert len(np.unique(rows.user_idx)) > 1 or batch == 1
    np.testing.assert_allclose(served.run(features), torch_heads(model, features), rtol=1e-3, atol=1e-5)


def test_no_candidates_score_nothing(version):
    served = LoadedModel.load(Registry(version[0]).open("prerank"))
    empty = {"cat": np.zeros((0, len(CAT_FEATURES)), np.int64), "seq_items": np.zeros((0, 30), np.int64),
             "seq_cats": np.zeros((0, 30), np.int64)}
    assert served.run(empty).shape == (0, len(served.heads))


def _copy(version, tmp_path) -> ModelVersion:
    root = tmp_path / "copy"
    shutil.copytree(version[0], root)
    return Registry(root).open("prerank", verify=False)


def test_item_vectors_that_disagree_with_the_model_are_refused(version, tmp_path):
    mv = _copy(version, tmp_path)
    vectors = np.load(mv.file("item_vectors.npy"))
    np.save(mv.file("item_vectors.npy"), vectors[::-1].copy())
    with pytest.raises(FailedPrecondition, match="golden parity of user tower x item vectors failed"):
        LoadedModel.load(mv)


def test_a_user_tower_that_disagrees_with_the_model_is_refused(version, tmp_path):
    mv = _copy(version, tmp_path)
    with np.load(mv.file("golden.npz")) as g:
        golden = dict(g)
    golden[EXPECTED_USER] = golden[EXPECTED_USER] + 0.5
    np.savez(mv.file("golden.npz"), **golden)
    with pytest.raises(FailedPrecondition, match="user tower golden parity failed"):
        LoadedModel.load(mv)


def test_item_vectors_of_the_wrong_shape_are_refused(version, tmp_path):
    mv = _copy(version, tmp_path)
    np.save(mv.file("item_vectors.npy"), np.load(mv.file("item_vectors.npy"))[:-1])
    with pytest.raises(FailedPrecondition, match=r"item vectors are float32 \[200, "):
        LoadedModel.load(mv)


@pytest.mark.parametrize("spec", [{"user_features": ["user_region", "user_mood"], "item_key": "item"},
                                  {"item_key": "item"}])
def test_user_tower_features_the_server_does_not_assemble_are_refused(version, tmp_path, spec):
    mv = _copy(version, tmp_path)
    manifest = dict(mv.manifest, two_tower={**mv.manifest["two_tower"], **spec})
    if "user_features" not in spec:
        manifest["two_tower"].pop("user_features")
    with pytest.raises(FailedPrecondition, match="two_tower features"):
        LoadedModel.load(dataclasses.replace(mv, manifest=manifest))


def test_the_two_tower_pre_ranker_reads_the_sequence_and_distils(version):
    _, model, ds = version
    assert zoo.input_names(model) == ["cat", "num", "seq_items", "seq_cats"]
    vocab = Registry(version[0]).open("prerank").manifest["feature_order"]["vocab"]
    teacher = lambda cat, *_: torch.full((cat.shape[0], len(ds.heads)), 0.3)  # noqa: E731
    distilled, losses = train.train_prerank(ds, teacher, vocab, 1, 7, "two_tower")
    assert len(losses) == 1 and np.isfinite(losses[0])
    rows = ds.test.take(np.arange(len(ds.test)) < 5)
    assert torch_heads(distilled, assemble(ds.items, rows.item_idx, rows.users)).shape == (5, len(ds.heads))
