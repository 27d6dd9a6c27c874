"""Is the recall merge fit too noisy? For one window, train the channels as `training.evaluate`
does (on the validation split, and on the test split), cache each user's channel lists, then
fit the merge weights on the validation lists in several ways and judge each by the merged
list's NDCG@10 on the test lists (seen items dropped), as a paired difference against the
default weights with a 95% interval over users (README, "Is the merge fit too noisy?").

    python -m training.merge_fit_probe --dataset kuairand --path ../shared/datasets/kuairand-pure-sample --back 1
    python -m training.merge_fit_probe --dataset synthetic --back 2

Ways of fitting: the fit as it is (`fusion.fit_merge`'s coordinate ascent, 1% per step); a
1-standard-error test per step; 2% per step; bagging (10 fits on bootstrap resamples of the
validation users, each channel's median weight on the grid).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from training import baselines, fusion, train
from training import data as data_mod
from training.evaluate import eligible_users, metric_users, window_end_ms
from training.funnel import Recall
from training.importers import DATASETS
from training.importers import load as import_dataset
from training.metrics import ndcg_per_user
from training.world import World


def cache_lists(world: World, split: data_mod.Dataset, users: np.ndarray, epochs: int, seed: int,
                mf_params: dict) -> dict:
    """Each user's channel lists (recall order), seen items and held-out positives, with every
    model trained on `split` as the evaluation trains it."""
    with tempfile.TemporaryDirectory(prefix="merge-probe-") as tmp:
        train.run_world(world, Path(tmp), epochs, seed, ds=split, eval_users=users[:200], mf_params=mf_params)
        recall = Recall(world, split, Path(tmp))
        names, lists, seen = fusion.channel_lists(recall, users)
        te = split.test.take(split.test.engaged)
        truths = [np.unique(split.items.item_id[te.item_idx[te.user_idx == u]]) for u in users]
        return {"names": names, "defaults": dict(recall.merge_weights), "lists": lists, "seen": seen,
                "truths": truths}


class Objective:
    """Per-user merged NDCG@10 at a weight vector, memoised (the fits revisit weights)."""

    def __init__(self, cache: dict):
        self.truths, self.memo = cache["truths"], {}
        self.tops = fusion.MergedTops(cache["lists"], cache["seen"])

    def __call__(self, w) -> np.ndarray:
        key = tuple(float(x) for x in np.round(np.asarray(w, np.float64), 6))
        if key not in self.memo:
            self.memo[key] = ndcg_per_user(self.tops.tops(key), self.truths, 10)
        return self.memo[key]


def fit(objective: Objective, cache: dict, users: np.ndarray | None = None, z: float | None = None,
        min_gain: float = fusion.MIN_GAIN) -> dict[str, float]:
    """`fusion.fit_merge`'s search over the validation users (or the resample `users`), with a
    `z`-standard-error test per step if given, and `min_gain` per step."""
    names = tuple(cache["names"])
    if z is not None:
        return fusion.coordinate_ascent(objective, names, cache["defaults"], fixed="two_tower",
                                        values=fusion.MERGE_VALUES, z_of={n: z for n in names}, min_gain=min_gain)[0]
    score = ((lambda w: float(objective(w).mean())) if users is None
             else (lambda w: float(objective(w)[users].mean())))
    return fusion.coordinate_ascent(score, names, cache["defaults"], fixed="two_tower", values=fusion.MERGE_VALUES,
                                    min_gain=min_gain)[0]


def bagged(objective: Objective, cache: dict, bags: int = 10, seed: int = 0) -> dict[str, float]:
    """`bags` fits on bootstrap resamples of the users; each channel's median weight (in
    logs), the nearest on the grid."""
    n = len(cache["lists"])
    rng = np.random.default_rng(seed)
    fits = [fit(objective, cache, rng.integers(0, n, n)) for _ in range(bags)]
    grid = np.asarray(fusion.MERGE_VALUES)
    return {name: float(grid[np.argmin(np.abs(np.log(grid) - np.median(np.log([f[name] for f in fits]))))])
            for name in cache["names"]}


def judge(val: dict, test: dict) -> dict:
    """Each way of fitting on `val`, judged on `test` against the defaults."""
    on_val, on_test = Objective(val), Objective(test)
    vec = lambda d: np.array([d[n] for n in val["names"]])  # noqa: E731
    ways = {"defaults": val["defaults"], "fit": fit(on_val, val), "z1_per_step": fit(on_val, val, z=1.0),
            "gain_2pct": fit(on_val, val, min_gain=0.02), "bagged10": bagged(on_val, val)}
    base = on_test(vec(val["defaults"]))
    out = {}
    for name, w in ways.items():
        diff = on_test(vec(w)) - base
        out[name] = {"weights": w, "test_ndcg@10": round(float(on_test(vec(w)).mean()), 4),
                     "val_ndcg@10": round(float(on_val(vec(w)).mean()), 4),
                     "vs_defaults": round(float(diff.mean()), 4),
                     "ci95": round(float(1.96 * diff.std(ddof=1) / np.sqrt(diff.size)), 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.merge_fit_probe", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=("synthetic", *DATASETS), default="synthetic")
    p.add_argument("--path", type=Path, default=None, help="world folder (synthetic) or the dataset's files")
    p.add_argument("--back", type=float, default=0.0, metavar="DAYS", help="the window ends DAYS before the log's end")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=None, help="JSON report (default: print only)")
    args = p.parse_args(argv)
    if args.dataset == "synthetic":
        path = args.path or Path("data/world")
        if not (path / "world.json").exists():
            p.error(f"--path {path}: no world here (run `make world`)")
        world = World.load(path)
    else:
        if args.path is None:
            p.error(f"--path is required for --dataset {args.dataset}")
        world = import_dataset(args.dataset, args.path)
    # the evaluation's own steps up to its fit: tuned baselines (the popularity half-life, the
    # mf channel's ALS settings), the validation split before the test cutoff
    end_ms = window_end_ms(world, args.back)
    ds = data_mod.build(world, end_ms=end_ms)
    rows = baselines.Interactions(ds.train.user_idx, ds.train.item_idx, ds.train.ts_ms, ds.train.engaged,
                                  world.config.n_users, len(ds.items))
    tuned = baselines.tune(rows, ds.cutoff_ms, ds.end_ms - ds.cutoff_ms, max_users=1000, seed=args.seed)
    ds = data_mod.build(world, end_ms=end_ms, pop_half_life_h=tuned["popularity"]["chosen"]["half_life_h"])
    mf_params = tuned["implicit_als"]["chosen"]
    val = fusion.validation_split(world, ds)
    val_cache = cache_lists(world, val, metric_users(val, 4000, args.seed), args.epochs, args.seed, mf_params)
    test_users = metric_users(ds, 5000, args.seed)
    test_cache = cache_lists(world, ds, test_users, args.epochs, args.seed, mf_params)
    report = {"dataset": args.dataset, "back_days": args.back, "users": {"validation": len(val_cache["lists"]),
              "test": len(test_cache["lists"]), "eligible_test": int(eligible_users(ds).size)},
              "ways": judge(val_cache, test_cache)}
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
