"""The recall merge, backtested over earlier windows of a synthetic world.

`make eval` fits the merge's channel weights on one validation window (the two days before
the test cutoff) and judges them on the test window. When the two disagree, one pair of
windows cannot say which of them is the odd one. This walks the split's window back in steps:
for each window ending `back` days before the world's end, every model is trained on what came
before it (`training.train.run_world`, as the evaluation does), and the report gives, for all
eligible users of the window, NDCG@10 of each channel alone and of the merged list at the
weights the evaluation fitted and at a grid of hot weights, each as a paired difference
against the hot channel alone (95% interval over users).

    python -m training.merge_backtest --world data/world --back 0 2 4 6 \\
        [--from-report reports/eval-synthetic.json] [--out reports/merge-backtest]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.recall.merge import DEFAULT_WEIGHTS, merge
from training import data as data_mod
from training import train
from training.evaluate import eligible_users, window_end_ms
from training.funnel import QUOTAS, Recall
from training.metrics import ndcg_per_user
from training.world import World

CHANNELS = ("hot", "two_tower", "mf", "item_cf", "region")
HOT_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)


def window(world: World, back_days: float, pop_half_life_h: float) -> data_mod.Dataset:
    """The time split whose test window ends `back_days` before the world's end."""
    return data_mod.build(world, end_ms=window_end_ms(world, back_days), pop_half_life_h=pop_half_life_h)


def paired(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean of a, and of a - b with its 95% normal interval (users are the unit)."""
    d = a - b
    half = 1.96 * float(d.std(ddof=1)) / float(np.sqrt(d.size)) if d.size > 1 else float("nan")
    return {"ndcg@10": round(float(a.mean()), 4), "minus_hot": round(float(d.mean()), 4),
            "ci95": [round(float(d.mean()) - half, 4), round(float(d.mean()) + half, 4)]}


def backtest_window(world: World, ds: data_mod.Dataset, merge_weights: dict[str, float],
                    hot_grid=HOT_GRID, epochs: int = 2, seed: int = 7, mf_params: dict | None = None) -> dict:
    """One window: each channel alone and the merged list (seen items dropped) against hot alone."""
    users = eligible_users(ds)
    te = ds.test.take(ds.test.engaged)
    truths = [np.unique(ds.items.item_id[te.item_idx[te.user_idx == u]]) for u in users]
    with tempfile.TemporaryDirectory(prefix="backtest-registry-") as tmp:
        train.run_world(world, Path(tmp), epochs, seed, ds=ds, eval_users=users[:200], mf_params=mf_params)
        funnel = Recall(world, ds, Path(tmp))
        cached = []
        for u in users:
            state = funnel.state(int(u))
            cached.append(({k: np.asarray(v, np.int64) for k, v in funnel.recall(int(u), state).items()},
                           state.seen_items))

    def ndcg(list_of) -> np.ndarray:
        tops = []
        for lists, seen in cached:
            ids = list_of(lists)
            tops.append(ids[~np.isin(ids, seen)][:10])
        return ndcg_per_user(tops, truths, 10)

    def merged(weights: dict[str, float]):
        return lambda lists: merge([(bit, lists[n]) for bit, n in enumerate(QUOTAS)],
                                   [weights[n] for n in QUOTAS]).item_ids

    hot = ndcg(lambda lists: lists["hot"])
    rows = {f"{c} alone": paired(ndcg(lambda lists, c=c: lists[c]), hot) for c in CHANNELS}
    rows["merged (fitted weights)"] = paired(ndcg(merged(merge_weights)), hot)
    for h in hot_grid:
        rows[f"merged, hot {h:g}"] = paired(ndcg(merged({**merge_weights, "hot": h})), hot)
    return {"cutoff_ms": int(ds.cutoff_ms), "end_ms": int(ds.end_ms), "users": int(users.size), "lists": rows}


def to_markdown(report: dict) -> str:
    backs = [w["back_days"] for w in report["windows"]]
    names = list(report["windows"][0]["lists"])
    lines = ["# The recall merge, backtested over earlier windows", "",
             f"Merge weights as fitted by the evaluation: {json.dumps(report['merge_weights'])}. "
             "Each cell: NDCG@10 of the list (seen items dropped), and its difference from the hot "
             "channel alone with a 95% interval over the window's users.", "",
             "| list | " + " | ".join(f"window ending {b:g} d before the end" for b in backs) + " |",
             "|---|" + "---:|" * len(backs)]
    lines.append("| users | " + " | ".join(str(w["users"]) for w in report["windows"]) + " |")
    for n in names:
        cells = []
        for w in report["windows"]:
            r = w["lists"][n]
            cells.append(f"{r['ndcg@10']:.4f} ({r['minus_hot']:+.4f} [{r['ci95'][0]:+.4f}, {r['ci95'][1]:+.4f}])")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", type=Path, default=Path("data/world"))
    ap.add_argument("--back", type=float, nargs="+", default=[0, 2, 4, 6],
                    help="days between each window's end and the world's end")
    ap.add_argument("--from-report", type=Path, default=None,
                    help="an evaluation report (make eval): its fitted merge weights, mf settings and "
                         "popularity half-life are used")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("reports/merge-backtest"))
    args = ap.parse_args(argv)
    if not (args.world / "world.json").exists():
        print(f"--world: no world.json in {args.world} (make world writes one)", file=sys.stderr)
        return 2
    if any(b < 0 for b in args.back):
        print("--back: days before the end must be >= 0", file=sys.stderr)
        return 2
    merge_weights, mf_params, half_life = dict(DEFAULT_WEIGHTS), None, data_mod.POP_HALF_LIFE_H
    if args.from_report:
        try:
            doc = json.loads(args.from_report.read_text())
            merge_weights = doc["fusion"].get("merge_weights", merge_weights)
            tuned = doc["baselines"]["tuned"]
            mf_params = tuned["implicit_als"]["chosen"]
            half_life = tuned["popularity"]["chosen"]["half_life_h"]
        except (OSError, ValueError, KeyError) as err:
            print(f"--from-report: {args.from_report} is not an evaluation report ({err})", file=sys.stderr)
            return 2
    merge_weights = {n: float(merge_weights.get(n, 1.0)) for n in QUOTAS}
    world = World.load(args.world)
    windows = []
    for back in args.back:
        started = time.monotonic()
        result = backtest_window(world, window(world, back, half_life), merge_weights,
                                 epochs=args.epochs, seed=args.seed, mf_params=mf_params)
        windows.append({"back_days": back, **result, "seconds": round(time.monotonic() - started, 1)})
        print(f"window ending {back:g} d before the end: {result['users']} users, merged "
              f"{result['lists']['merged (fitted weights)']}", file=sys.stderr)
    report = {"world": str(args.world), "merge_weights": merge_weights, "mf_params": mf_params,
              "pop_half_life_h": half_life, "windows": windows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(to_markdown(report))
    print(f"wrote {args.out.with_suffix('.json')} and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
