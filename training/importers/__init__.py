"""Importers: public interaction logs mapped onto the internal schema (a `World` without a
ground truth), so the same training, evaluation and serving code runs on them.

    world = importers.load("movielens", Path("~/data/ml-100k"))

Nothing is downloaded: the user points at files already on disk. A malformed row stops the
import with `BadInput` naming the file and line (or is skipped and counted with
`skip_bad=True`); a missing path is a one-line error.
"""
from __future__ import annotations

from pathlib import Path

from training.importers.common import BadInput
from training.world import World

DATASETS = ("movielens", "kuairand", "generic")


def load(dataset: str, path: Path, skip_bad: bool = False) -> World:
    if dataset not in DATASETS:
        raise BadInput(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    path = Path(path).expanduser()
    if not path.is_dir():
        raise BadInput(f"{path}: no such directory")
    if dataset == "generic":  # the documented schema (training/importers/generic.py)
        from training.importers.generic import load as load_generic
        return load_generic(path, skip_bad).world
    if dataset == "movielens":
        from training.importers.movielens import load as load_ml
        return load_ml(path, skip_bad)
    from training.importers.kuairand import load as load_kr
    return load_kr(path, skip_bad)


__all__ = ["BadInput", "DATASETS", "load"]
