"""Publishing a ranker of another architecture as a new version beside the live one.

A version of another architecture is the live ranker version (its item table, feature
order, heads, fusion weights) with its own `model.onnx`, golden parity sample and manifest
fields (`architecture`, `hyperparameters`, `metrics`, `train_loss`). The rank service needs
nothing else to serve it: the manifest declares the same inputs and heads, and the
assembly follows the manifest. The model comparison and the live/canary tests publish this
way; `make train --ranker NAME` publishes the same manifest from scratch.

    python -m training.ranker_version --world data/world --registry models --ranker ple
    # then: python -m services.rank.admin_cli canary --model ranker --version <it> --percent 10
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from core.registry.reader import ModelVersion, Registry
from training import data as data_mod
from training import train
from training.data import Dataset
from training.funnel import Recall
from training.models import zoo
from training.publish import copy_version
from training.world import World

GOLDEN_ROWS = 64  # as many test rows as train.py's golden sample


def export(model: torch.nn.Module, ds: Dataset, folder: Path) -> dict[str, Path]:
    """`model.onnx` and `golden.npz` (the first test rows, the PyTorch outputs) in `folder`."""
    names = zoo.input_names(model)
    rows = ds.test.take(np.arange(len(ds.test)) < GOLDEN_ROWS)
    golden = {k: v.numpy() for k, v in train._ranker_tensors(ds, rows).items() if k in names}
    with torch.no_grad():
        golden["expected"] = model.eval()(*(torch.from_numpy(golden[k]) for k in names)).numpy()
    np.savez(folder / "golden.npz", **golden)
    train._export(model, tuple(torch.from_numpy(golden[k][:2]) for k in names), names, ["heads"],
                  folder / "model.onnx")
    return {"model.onnx": folder / "model.onnx", "golden.npz": folder / "golden.npz"}


def publish_architecture(registry: Path, base: ModelVersion, model: torch.nn.Module, ds: Dataset,
                         architecture: str, hyperparameters: dict, metrics: dict | None = None,
                         train_loss: list[float] | None = None, make_live: bool = False) -> str:
    """A new version of `base`'s model (a ranker) serving `model`; returns the version."""
    if zoo.input_names(model) != [d["name"] for d in base.manifest["inputs"]]:
        raise ValueError(f"{architecture}: inputs {zoo.input_names(model)} differ from "
                         f"{base.name}/{base.version}'s manifest")
    with tempfile.TemporaryDirectory() as tmp:
        files = export(model, ds, Path(tmp))
        return copy_version(registry, base, files, {
            "architecture": architecture, "hyperparameters": hyperparameters,
            "metrics": metrics or {}, "train_loss": [round(v, 4) for v in train_loss or []]}, make_live)


def train_and_publish(registry: Path, world: World, architecture: str, *, epochs: int = 1,
                      max_rows: int | None = None, seed: int = 7, make_live: bool = False) -> str:
    """Train `architecture` on `world` (the world the live ranker was trained on; the first
    `max_rows` training rows when given: a version to serve in a test or a chaos run, not
    to judge) and publish it beside the live ranker of `registry`."""
    ds = data_mod.build(world)
    if max_rows is None:  # the live ranker's training rows, its hard negatives from the live recall included
        train_ds, rows = ds, train.ranker_rows(ds, world, seed, recall=Recall.served(world, ds, registry))
    else:
        train_ds, rows = dataclasses.replace(ds, train=ds.train.take(np.arange(len(ds.train)) < max_rows)), None
    model, _, losses = train.train_ranker(train_ds, world, epochs, seed, architecture=architecture, rows=rows)
    return publish_architecture(registry, Registry(registry).open("ranker"), model, ds, architecture,
                                zoo.hyperparameters(architecture), train_loss=losses, make_live=make_live)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.ranker_version",
                                description="Train a ranker of another architecture; publish it beside the live one.")
    p.add_argument("--world", type=Path, default=Path("data/world"), help="the world the live ranker was trained on")
    p.add_argument("--registry", type=Path, default=Path("models"))
    p.add_argument("--ranker", required=True, choices=sorted(zoo.RANKERS))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--live", action="store_true", help="make it the live version (default: published only)")
    args = p.parse_args(argv)
    if not (args.world / "world.json").exists():
        p.error(f"--world {args.world}: no world here")
    if not (args.registry / "ranker" / "aliases.json").exists():
        p.error(f"--registry {args.registry}: no live ranker to publish beside (run `make train`)")
    version = train_and_publish(args.registry, World.load(args.world), args.ranker, epochs=args.epochs,
                                seed=args.seed, make_live=args.live)
    print(f"published ranker/{version} ({args.ranker})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
