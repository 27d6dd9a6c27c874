"""Rerank micro-benchmark: each policy (and the bare selectors) on 200 candidates -> 20,
in process, one thread, realistic inputs (the live two-tower item vectors and a
power-law-ish relevance). Writes bench/results/rerank.json.

    OPENBLAS_NUM_THREADS=1 python -m bench.rerank [--registry models] [--iters 2000]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from core.items import ItemTable
from core.registry.reader import Registry
from core.rerank.candidates import ItemSide
from core.rerank.dpp import dpp_select
from core.rerank.mmr import mmr_select
from core.rerank.policies import build_policies


def timed(fn, iters: int) -> dict[str, float]:
    for _ in range(min(50, iters)):
        fn()
    samples = np.empty(iters)
    for i in range(iters):
        start = time.perf_counter()
        fn()
        samples[i] = (time.perf_counter() - start) * 1000
    return {"p50_ms": round(float(np.percentile(samples, 50)), 4),
            "p99_ms": round(float(np.percentile(samples, 99)), 4),
            "mean_ms": round(float(samples.mean()), 4)}


def run(registry: Path, n: int = 200, count: int = 20, iters: int = 2000, seed: int = 0) -> dict:
    mv = Registry(registry).open("two_tower")
    side = ItemSide(ItemTable.load(mv.file("items.npz")), np.load(mv.file("item_vectors.npy")))
    rng = np.random.default_rng(seed)
    ids = rng.choice(side.items.item_id, n, replace=False)
    scores = np.sort(rng.pareto(2.0, n))[::-1].astype(np.float32)
    cands = side.candidates(ids, scores)
    out = {}
    for name, policy in build_policies().items():
        out[f"policy:{name}"] = timed(lambda policy=policy: policy.apply(cands, count), iters)
    out["selector:dpp"] = timed(lambda: dpp_select(cands.scores, cands.vectors, count, 0.7), iters)
    out["selector:mmr"] = timed(lambda: mmr_select(cands.scores, cands.vectors, count, 0.7), iters)
    return {"candidates": n, "count": count, "iters": iters, "machine": platform.platform(),
            "processor": platform.processor() or platform.machine(), "results": out,
            "rerank_inproc_p99_ms_200to20": out["policy:dpp"]["p99_ms"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.rerank", description=__doc__.split("\n")[0])
    p.add_argument("--registry", type=Path, default=Path("models"))
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--out", type=Path, default=Path("bench/results/rerank.json"))
    args = p.parse_args(argv)
    if not (args.registry / "two_tower" / "aliases.json").exists():
        p.error(f"--registry {args.registry}: no live two_tower model (run `make train` first)")
    report = run(args.registry, iters=args.iters)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print("| rerank 200 -> 20, in process, 1 thread | p50 ms | p99 ms |\n|---|---|---|")
    for name, r in report["results"].items():
        print(f"| {name} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
