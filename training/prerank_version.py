"""Publishing a pre-ranker of another architecture beside the live one, distilled from the
live ranker.

The teacher is the live ranker version as the service runs it (its ONNX graph, through
`LoadedModel`), the item table and vocabularies are that version's, and the fusion weights
its manifest's, so the new pre-ranker agrees with the stage it feeds. Any pre-ranker of
`training.models.zoo.PRERANKERS` works, the two-tower one included (its item vectors come
from the live ranker's item table); the rank service serves either kind with no code per
architecture, and a canary between them works like one between versions.

    python -m training.prerank_version --world data/world --registry models --prerank two_tower
    # then: python -m services.rank.admin_cli canary --model prerank --version <it> --percent 10
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

from core.rank.model import LoadedModel
from core.registry.reader import Registry
from training import data as data_mod
from training import prerank_export, train
from training.funnel import Recall
from training.models import zoo
from training.world import World


def onnx_teacher(ranker: LoadedModel):
    """The served ranker as a callable on the training tensors (what `train_prerank` distils)."""
    def probabilities(cat, num, seq_items, seq_cats) -> torch.Tensor:
        return torch.from_numpy(ranker.run({"cat": cat.numpy(), "num": num.numpy(), "seq_items": seq_items.numpy(),
                                            "seq_cats": seq_cats.numpy()}))
    return probabilities


def train_and_publish(registry: Path, world: World, architecture: str, *, epochs: int = 1,
                      max_rows: int | None = None, seed: int = 7, make_live: bool = False) -> str:
    """Train `architecture` on `world` (the world the live ranker was trained on; the first
    `max_rows` training rows when given: a version to serve in a test, not to judge),
    distilled from the live ranker, and publish it as a new "prerank" version."""
    reg = Registry(registry)
    base = reg.open("ranker")
    ranker = LoadedModel.load(base)
    ds = data_mod.build(world)
    if ranker.heads != ds.heads or not np.array_equal(ranker.items.item_id, ds.items.item_id):
        raise ValueError(f"ranker/{base.version} was not trained on this world (heads or items differ)")
    ds = dataclasses.replace(ds, items=ranker.items)  # the served popularity, the served item vectors
    # the ranker's own training rows: its hard negatives from the live recall versions
    rows = train.ranker_rows(ds, world, seed, recall=Recall.served(world, ds, registry))
    if max_rows is not None:
        rows = rows.take(np.arange(len(rows)) < max_rows)
    vocab = base.manifest["feature_order"]["vocab"]
    model, losses = train.train_prerank(ds, onnx_teacher(ranker), vocab, epochs, seed, architecture, rows=rows)
    metrics, _ = train.evaluate_ranker(ds, model)
    return prerank_export.publish_prerank(
        registry, model, ds, architecture, vocab, base.manifest["fusion_weights"], teacher=f"ranker/{base.version}",
        label_weight=train.DISTILL_LABEL_WEIGHT, data_range=base.manifest.get("data_range", {}), metrics=metrics,
        losses=losses, items_file=base.file("items.npz"), make_live=make_live)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.prerank_version",
                                description="Train a pre-ranker distilled from the live ranker; publish it.")
    p.add_argument("--world", type=Path, default=Path("data/world"), help="the world the live ranker was trained on")
    p.add_argument("--registry", type=Path, default=Path("models"))
    p.add_argument("--prerank", required=True, choices=sorted(zoo.PRERANKERS))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--live", action="store_true", help="make it the live version (default: published only)")
    args = p.parse_args(argv)
    if not (args.world / "world.json").exists():
        p.error(f"--world {args.world}: no world here")
    if not (args.registry / "ranker" / "aliases.json").exists():
        p.error(f"--registry {args.registry}: no live ranker to distil from (run `make train`)")
    version = train_and_publish(args.registry, World.load(args.world), args.prerank, epochs=args.epochs,
                                seed=args.seed, make_live=args.live)
    print(f"published prerank/{version} ({args.prerank})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
