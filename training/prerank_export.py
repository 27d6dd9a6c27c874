"""Exporting and publishing a pre-ranker version, of either kind the rank service loads.

* a plain ONNX scorer (`mlp`, `fm`, `lr`): `model.onnx` over (cat, num) -> heads, golden rows
  from the training tensors, manifest kind "prerank";
* a two-tower pre-ranker (`two_tower`): `model.onnx` is the user tower (cat, seq_items,
  seq_cats -> user_vec [B, H, K]), `item_vectors.npy` every item code's vector ([item
  vocabulary, H, K], row 0 = an item the version does not know, built from the serving
  assembly's defaults), manifest kind "two_tower_prerank" with a `two_tower` section. Its
  golden rows are assembled as the service assembles them (the item table's popularity,
  not the one as of each row's time), so the PyTorch output and user tower x item vectors
  must agree exactly; it also keeps the user tower's own output (`expected_user_vec`), so a
  refusal names the part that differs (core/rank/two_tower_prerank.py).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from core.rank.features import CAT_FEATURES, ITEM_COL, NUM_FEATURES, SEQ_LEN, assemble, rows_for_user
from core.rank.model import TWO_TOWER_PRERANK
from core.rank.two_tower_prerank import EXPECTED_USER
from training import train
from training.data import Dataset
from training.models import zoo
from training.models.two_tower_prerank import USER_FEATURES, TwoTowerPreRanker
from training.publish import publish

GOLDEN_ROWS = 64
_SPECS = {"cat": ("int64", len(CAT_FEATURES)), "num": ("float32", len(NUM_FEATURES)),
          "seq_items": ("int64", SEQ_LEN), "seq_cats": ("int64", SEQ_LEN)}


def _tensor_specs(names: list[str]) -> list[dict]:
    return [{"name": n, "dtype": _SPECS[n][0], "shape": ["batch", _SPECS[n][1]]} for n in names]


def _run(module, golden: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    with torch.no_grad():
        return module(*(torch.from_numpy(golden[n]) for n in names)).numpy()


def export_plain(model: torch.nn.Module, features: dict[str, np.ndarray], folder: Path) -> tuple[dict, dict]:
    """(files, manifest fields) of a plain ONNX pre-ranker; `features` = the golden rows."""
    names = zoo.input_names(model)
    golden = {n: features[n] for n in names}
    golden["expected"] = _run(model.eval(), golden, names)
    np.savez(folder / "golden.npz", **golden)
    train._export(model, tuple(torch.from_numpy(golden[n][:2]) for n in names), names, ["heads"],
                  folder / "model.onnx")
    return ({"model.onnx": folder / "model.onnx", "golden.npz": folder / "golden.npz"},
            {"kind": "prerank", "inputs": _tensor_specs(names),
             "outputs": [{"name": "heads", "dtype": "float32", "shape": ["batch", golden["expected"].shape[1]]}]})


def item_vectors(model: TwoTowerPreRanker, ds_items, defaults: dict[str, float]) -> np.ndarray:
    """Every item code's vector [len(items) + 1, H, K], from the serving assembly of the item
    table (code 0: an unknown item, with `defaults`)."""
    idx = np.arange(-1, len(ds_items), dtype=np.int64)
    rows = rows_for_user(ds_items, idx, region=0, age_bucket=0, gender=0, device=0, hour=-1,
                         recent_items=np.zeros(0, np.int64), followed_authors=np.zeros(0, np.int64), now_ms=0)
    x = assemble(ds_items, idx, rows, defaults)
    assert np.array_equal(x["cat"][:, ITEM_COL], np.arange(idx.size)), "item codes are dense index + 1"
    return _run(model.item_tower.eval(), x, ["cat", "num"]).astype(np.float32)


def export_two_tower(model: TwoTowerPreRanker, ds_items, features: dict[str, np.ndarray],
                     defaults: dict[str, float], folder: Path) -> tuple[dict, dict]:
    """(files, manifest fields) of a two-tower pre-ranker; `features` = the golden rows as
    the service assembles them."""
    model.eval()
    user_names = ["cat", "seq_items", "seq_cats"]
    golden = {n: features[n] for n in zoo.input_names(model)}
    golden["expected"] = _run(model, golden, zoo.input_names(model))
    golden[EXPECTED_USER] = _run(model.user_tower, golden, user_names)
    np.savez(folder / "golden.npz", **golden)
    vectors = item_vectors(model, ds_items, defaults)
    np.save(folder / "item_vectors.npy", vectors)
    train._export(model.user_tower, tuple(torch.from_numpy(golden[n][:2]) for n in user_names), user_names,
                  ["user_vec"], folder / "model.onnx")
    heads, width = vectors.shape[1:]
    return ({"model.onnx": folder / "model.onnx", "golden.npz": folder / "golden.npz",
             "item_vectors.npy": folder / "item_vectors.npy"},
            {"kind": TWO_TOWER_PRERANK, "inputs": _tensor_specs(user_names),
             "outputs": [{"name": "user_vec", "dtype": "float32", "shape": ["batch", int(heads), int(width)]}],
             "two_tower": {"user_features": list(USER_FEATURES), "item_key": "item",
                           "item_vectors": "item_vectors.npy", "shape": [int(s) for s in vectors.shape],
                           "score": "sigmoid(user_vec[h] . item_vectors[item code][h]) per head"}})


def publish_prerank(registry: Path, model: torch.nn.Module, ds: Dataset, architecture: str, vocab: dict[str, int],
                    fusion: dict[str, float], *, teacher: str, label_weight: float, data_range: dict,
                    metrics: dict, losses: list[float], items_file: Path | None = None,
                    make_live: bool = True, recall_prior_weight: float = 0.0) -> str:
    """Export `model` (a `zoo.PRERANKERS` architecture) and publish it as a new version of
    "prerank"; returns the version. `items_file`: the ranker's `items.npz` (`ds.items`) when
    there is one: the same bytes let the service assemble features once for both models."""
    rows = train.golden_sample(ds, GOLDEN_ROWS)
    defaults = train.feature_defaults(ds.items)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if items_file is None:
            items_file = tmp / "items.npz"
            ds.items.save(items_file)
        if isinstance(model, TwoTowerPreRanker):
            features = assemble(ds.items, rows.item_idx, rows.users, defaults)
            files, fields = export_two_tower(model, ds.items, features, defaults, tmp)
        else:
            features = {k: v.numpy() for k, v in train._ranker_tensors(ds, rows).items()}
            files, fields = export_plain(model, features, tmp)
        schema = {"cat": list(CAT_FEATURES), "num": list(NUM_FEATURES), "vocab": vocab}
        if "seq_items" in zoo.input_names(model):
            schema["seq_len"] = SEQ_LEN
        return publish(registry, "prerank", {**files, "items.npz": items_file}, {
            **fields, "architecture": architecture,
            "hyperparameters": zoo.hyperparameters(architecture, zoo.PRERANKERS),
            "heads": list(ds.heads), "fusion_weights": fusion, "recall_prior_weight": recall_prior_weight,
            "feature_defaults": defaults,
            "feature_order": schema, "feature_schema_hash": train.schema_hash(schema),
            "distillation": {"label_weight": label_weight, "teacher": teacher},
            "data_range": data_range, "metrics": metrics, "train_loss": [round(v, 4) for v in losses]},
            make_live)
