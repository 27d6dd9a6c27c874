"""The ranking architectures side by side, on one split, each trained with several seeds.

    python -m training.compare_models --world data/world --out reports/models-synthetic.json
    python -m training.compare_models --dataset kuairand [--path ../shared/datasets/kuairand-pure-sample]
    [--models din,bst] [--seeds 3] [--epochs 2] [--users 1000]

For every architecture of `training.models.zoo` and every seed: train with `training.train`'s
trainer and defaults, score the test impressions (AUC, GAUC and logloss per head), export to
ONNX and check parity with PyTorch at batch 1, 37 and 1024, publish it as the live ranker of a
throw-away registry whose other models (two-tower, item-CF, pre-rank) are trained once, and
run the offline pipeline (`training.evaluate.pipeline`: recall -> pre-rank -> rank -> rerank,
the services' code) for the final feed's NDCG@10. Once per architecture: the scoring latency
of 200 candidates through the serving path (`LoadedModel.run`, ONNX Runtime, one thread).
Reports mean and standard deviation over seeds (a difference smaller than the deviation
decides nothing) as JSON, Markdown and a PNG. On a real log (`--dataset kuairand`) the same,
on the importer's world; the report shows the heads that log has (click, long view, like,
follow, hate) and reads GAUC and logloss on its first one.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from core.rank.features import assemble, rows_for_user
from core.rank.model import LoadedModel
from core.registry.reader import Registry
from training import evaluate, train
from training.data import Dataset
from training.funnel import Recall
from training.importers import DATASETS, BadInput
from training.importers import load as import_dataset
from training.metrics import auc, gauc, logloss
from training.models import zoo
from training.ranker_version import publish_architecture
from training.world import World

PARITY_BATCHES = (1, 37, 1024)
LATENCY_CANDIDATES = 200
LATENCY_RUNS = 500
# What "fast enough to serve" means here (README): 200 candidates, one thread.
SERVING_P50_MS = 3.0
# The heads each report shows, in order, where the data has them; the first is the one GAUC,
# logloss and the recommendation's tie-break read. Every head is in the JSON either way.
SHOWN_HEADS = {"synthetic": ("like", "complete", "share", "follow"),
               "kuairand": ("click", "long_view", "like", "follow", "hate")}
KUAIRAND_DIR = Path("../shared/datasets/kuairand-pure-sample")


def shown_heads(dataset: str, heads: tuple[str, ...] | list[str]) -> list[str]:
    """The report's heads for `dataset`: its SHOWN_HEADS the data has, else every head."""
    return [h for h in SHOWN_HEADS.get(dataset, ()) if h in heads] or list(heads)


def head_metrics(ds: Dataset, probs: np.ndarray) -> dict[str, float]:
    """AUC, GAUC (per user, impression-weighted) and logloss for every head."""
    out = {}
    for h, name in enumerate(ds.heads):
        y, p = ds.test.labels[:, h], probs[:, h]
        out[f"auc_{name}"] = auc(y, p)
        out[f"gauc_{name}"] = float(gauc(ds.test.user_idx, y, p))
        out[f"logloss_{name}"] = logloss(y, p)
    return out


def parity_max_abs(model: torch.nn.Module, session: ort.InferenceSession, ds: Dataset) -> float:
    """Largest |ONNX - PyTorch| over test rows at every batch size of PARITY_BATCHES."""
    names = zoo.input_names(model)
    worst = 0.0
    for batch in PARITY_BATCHES:
        rows = ds.test.take(np.arange(len(ds.test)) < batch)
        x = train._ranker_tensors(ds, rows)
        with torch.no_grad():
            want = model(*(x[n] for n in names)).numpy()
        got = session.run(None, {n: x[n].numpy() for n in names})[0]
        worst = max(worst, float(np.max(np.abs(got - want))))
    return worst


def latency_ms(model: LoadedModel, ds: Dataset, runs: int = LATENCY_RUNS) -> tuple[float, float]:
    """(p50, p99) of one `run` over 200 candidates of one user with a full sequence."""
    items = model.items
    n = min(LATENCY_CANDIDATES, len(items))
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(items), n, replace=False)).astype(np.int64)
    rows = rows_for_user(items, idx, region=1, age_bucket=2, gender=1, device=1, hour=20,
                         recent_items=items.item_id[rng.choice(len(items), 30, replace=False)],
                         followed_authors=items.author_id[:3], now_ms=int(ds.cutoff_ms))
    features = assemble(items, idx, rows, model.feature_defaults)
    for _ in range(50):
        model.run(features)
    times = np.empty(runs)
    for i in range(runs):
        t = time.perf_counter()
        model.run(features)
        times[i] = time.perf_counter() - t
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def feed_ndcg(world: World, ds: Dataset, registry: Path, users: int) -> float:
    """The final feed's NDCG@10 with the registry's live versions (the offline pipeline)."""
    return float(evaluate.pipeline(world, ds, registry, evaluate.metric_users(ds, users))[0]["ndcg@10"])


def run_one(world: World, ds: Dataset, registry: Path, name: str, seed: int, epochs: int, users: int,
            measure_latency: bool, recall: Recall) -> dict[str, float]:
    """`recall`: the registry's recall stage, for the served ranker's hard negatives."""
    started = time.monotonic()
    # the served ranker's training rows, its hard negatives from the recall stage included
    rows = train.ranker_rows(ds, world, seed, recall=recall)
    model, _, losses = train.train_ranker(ds, world, epochs, seed, architecture=name, rows=rows)
    train_s = time.monotonic() - started
    with torch.no_grad():
        x = train._ranker_tensors(ds, ds.test)
        probs = model(*(x[n] for n in zoo.input_names(model))).numpy()
    metrics = head_metrics(ds, probs)
    reg = Registry(registry)
    version = publish_architecture(registry, reg.open("ranker"), model, ds, name, zoo.hyperparameters(name),
                                   {k: round(v, 4) for k, v in metrics.items()}, losses, make_live=True)
    loaded = LoadedModel.load(reg.open("ranker", version), threads=1)  # checks golden parity too
    row = metrics | {"params": int(sum(p.numel() for p in model.parameters())), "train_s": train_s,
                     "onnx_parity_max_abs": parity_max_abs(model, loaded.session, ds),
                     "ndcg@10": feed_ndcg(world, ds, registry, users)}
    if measure_latency:
        row["p50_ms_200"], row["p99_ms_200"] = latency_ms(loaded, ds)
    print(f"{name} seed {seed}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()), file=sys.stderr)
    return row


def summarise(runs: list[dict[str, float]]) -> dict[str, float]:
    """Mean over seeds and, for every quality number, its standard deviation (`_std`)."""
    out: dict[str, float] = {}
    for key in runs[0]:
        values = np.array([r[key] for r in runs if key in r], dtype=np.float64)
        out[key] = round(float(values.mean()), 6)
        if key.startswith(("auc_", "gauc_", "logloss_", "ndcg")) or key == "train_s":
            out[f"{key}_std"] = round(float(values.std(ddof=1)) if values.size > 1 else 0.0, 6)
    out["params"] = int(runs[0]["params"])
    out["onnx_parity_max_abs"] = float(max(r["onnx_parity_max_abs"] for r in runs))
    return out


def recommend(models: dict[str, dict], head: str = "like") -> str:
    """Quality first (the final feed's NDCG@10, then AUC of `head`), among the models that rank
    200 candidates within SERVING_P50_MS on one thread."""
    fast = {n: m for n, m in models.items() if m.get("p50_ms_200", np.inf) <= SERVING_P50_MS} or models
    return max(fast, key=lambda n: (fast[n]["ndcg@10"], fast[n][f"auc_{head}"]))


def compare(world: World, names: list[str], seeds: list[int], epochs: int, users: int,
            progress=None, dataset: str = "synthetic") -> dict:
    """The report; `progress(report)` gets the report so far after every run. Seeds are the
    outer loop, so an interrupted comparison still has every model at the first seeds."""
    started = time.monotonic()
    per_seed: dict[str, list[dict]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="compare-registry-") as tmp:
        base = train.run_world(world, Path(tmp), epochs, seeds[0])  # two-tower, item-CF, pre-rank, ...
        ds = base.ds
        recall = Recall(world, ds, Path(tmp))
        for i, seed in enumerate(seeds):
            for name in names:
                per_seed[name].append(run_one(world, ds, Path(tmp), name, seed, epochs, users, measure_latency=i == 0,
                                              recall=recall))
                report = _report(ds, names, seeds, epochs, users, per_seed, time.monotonic() - started, dataset)
                if progress is not None:
                    progress(report)
    return report


def _report(ds: Dataset, names: list[str], seeds: list[int], epochs: int, users: int, per_seed: dict,
            seconds: float, dataset: str = "synthetic") -> dict:
    models = {name: summarise(rows) for name, rows in per_seed.items() if rows}
    shown = shown_heads(dataset, ds.heads)
    return {
        "dataset": dataset, "heads": list(ds.heads), "shown_heads": shown, "seeds": seeds, "epochs": epochs,
        "complete": all(len(per_seed[n]) == len(seeds) for n in names),
        "split": {"cutoff_ts": int(ds.cutoff_ms), "train_rows": len(ds.train), "test_rows": len(ds.test)},
        "pipeline_users": users,
        "pre_rank": "the default pre-ranker (distilled from DIN, seed %d) in front of every ranker" % seeds[0],
        "latency": {"candidates": LATENCY_CANDIDATES, "runs": LATENCY_RUNS, "threads": 1,
                    "path": "core.rank.model.LoadedModel.run (ONNX Runtime)",
                    "note": "measured once per architecture on a shared machine: compare orders of magnitude"},
        "hyperparameters": {name: zoo.hyperparameters(name) for name in names},
        "recommended": recommend(models, shown[0]), "serving_p50_ms_limit": SERVING_P50_MS,
        "models": models, "per_seed": per_seed,
        "seconds": round(seconds, 1),
    }


def write(report: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    heads = report.get("shown_heads") or report["heads"]
    first = heads[0]
    lines = [f"# Ranking architectures: {report['dataset']}", "",
             f"Mean ± standard deviation over seeds {report['seeds']} ({report['epochs']} epochs each, "
             f"{report['split']['train_rows']:,} train / {report['split']['test_rows']:,} test rows); "
             f"feed NDCG@10 through the offline pipeline ({report['pipeline_users']} test users, "
             f"{report['pre_rank']}); latency: 200 candidates, ONNX Runtime, one thread "
             f"(one measurement on a shared machine).", "",
             "| model | " + " | ".join(f"AUC {h}" for h in heads) + f" | GAUC {first} | logloss {first} | feed NDCG@10 "
             "| params | train s | p50 ms | p99 ms | parity |",
             "|---|" + "---:|" * (len(heads) + 8)]
    for name, m in report["models"].items():
        cells = [f"{m[f'auc_{h}']:.4f} ± {m[f'auc_{h}_std']:.4f}" for h in heads]
        cells += [f"{m[f'gauc_{first}']:.4f} ± {m[f'gauc_{first}_std']:.4f}", f"{m[f'logloss_{first}']:.4f}",
                  f"{m['ndcg@10']:.4f} ± {m['ndcg@10_std']:.4f}", f"{m['params']:,}", f"{m['train_s']:.0f}",
                  f"{m.get('p50_ms_200', float('nan')):.2f}", f"{m.get('p99_ms_200', float('nan')):.2f}",
                  f"{m['onnx_parity_max_abs']:.1e}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if not report["complete"]:
        done = ", ".join(f"{n} {len(r)}" for n, r in report["per_seed"].items())
        lines += ["", f"**Incomplete**: runs per model {done} of {len(report['seeds'])}."]
    lines += ["", f"Best feed NDCG@10 within p50 ≤ {report['serving_p50_ms_limit']} ms: **{report['recommended']}**."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    _plot(report, out.with_suffix(".png"))


def _plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names, models = list(report["models"]), report["models"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    heads = report.get("shown_heads") or report["heads"]
    width = 0.8 / len(heads)
    for k, h in enumerate(heads):
        left.bar(np.arange(len(names)) + k * width, [models[n][f"auc_{h}"] for n in names], width,
                 yerr=[models[n][f"auc_{h}_std"] for n in names], capsize=2, label=h)
    left.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=20, fontsize=8)
    left.set_ylim(0.5, 1.0)
    left.set_ylabel("test AUC (mean ± std over seeds)")
    left.legend(fontsize=8)
    for n in names:
        right.errorbar(models[n].get("p50_ms_200", np.nan), models[n]["ndcg@10"], yerr=models[n]["ndcg@10_std"],
                       fmt="o", capsize=3)
        right.annotate(n, (models[n].get("p50_ms_200", np.nan), models[n]["ndcg@10"]), fontsize=8,
                       xytext=(4, 4), textcoords="offset points")
    right.axvline(report["serving_p50_ms_limit"], color="grey", linestyle="--", linewidth=1)
    right.set_xlabel("p50 ms, 200 candidates, one thread")
    right.set_ylabel("final feed NDCG@10")
    fig.suptitle(f"ranking architectures ({report['dataset']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.compare_models", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=("synthetic", *DATASETS), default="synthetic")
    p.add_argument("--world", type=Path, default=Path("data/world"), help="world folder (synthetic)")
    p.add_argument("--path", type=Path, default=None,
                   help=f"the dataset's files (default for kuairand: {KUAIRAND_DIR})")
    p.add_argument("--out", type=Path, default=None, help="report file (default reports/models-<dataset>.json)")
    p.add_argument("--models", default=",".join(zoo.RANKERS), help="comma-separated zoo names")
    p.add_argument("--seeds", type=int, default=3, help="seeds per model (7, 8, ...)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--users", type=int, default=1000, help="test users in the pipeline's NDCG@10")
    args = p.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    unknown = sorted(set(names) - set(zoo.RANKERS))
    if unknown or not names:
        p.error(f"--models: unknown {unknown}, expected some of {sorted(zoo.RANKERS)}")
    if args.seeds < 1 or args.epochs < 1 or args.users < 1:
        p.error("--seeds, --epochs and --users must be >= 1")
    out = args.out or Path(f"reports/models-{args.dataset}.json")
    if args.dataset == "synthetic":
        if not (args.world / "world.json").exists():
            p.error(f"--world {args.world}: no world here (run `python -m training.world --out {args.world}`)")
        world = World.load(args.world)
    else:
        path = args.path or (KUAIRAND_DIR if args.dataset == "kuairand" else None)
        if path is None:
            p.error(f"--path is required for --dataset {args.dataset}")
        if args.path is None and not any(path.glob("log_*.csv")):
            # the shared sample is optional: a machine without it skips this report
            print(f"compare_models: no KuaiRand log_*.csv in {path} (pass --path DIR); skipped", file=sys.stderr)
            return 0
        try:
            world = import_dataset(args.dataset, path)
        except BadInput as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    torch.set_num_threads(max(1, torch.get_num_threads()))
    compare(world, names, [7 + i for i in range(args.seeds)], args.epochs, args.users,
            progress=lambda r: write(r, out), dataset=args.dataset)
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
