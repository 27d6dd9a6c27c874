"""The diversity trade-off, measured: relevance versus diversity for no reranking, MMR over
a range of lambda and DPP over a range of theta.

    python -m training.evaluate_rerank --world data/world --registry models --out reports

For up to --users test users: the user's state at the split, 200 candidates from the
two-tower model (items met in training excluded), scored by the live ONNX ranker, then each
method picks 10. Reported per method: NDCG@10 against the user's held-out engagements,
intra-list diversity (mean pairwise 1 - cosine of item vectors), category coverage
(distinct categories / 10) and the oracle's like probability (the world's ground truth).
Writes rerank-tradeoff.json, .md and .png.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from core.context import RequestContext
from core.rank import scoring
from core.rank.model import LoadedModel
from core.recall.channels.two_tower import TwoTowerModel
from core.registry.reader import Registry
from core.rerank.dpp import dpp_select
from core.rerank.mmr import mmr_select
from core.store.user_state import UserStateData
from training import data as data_mod
from training.world import World

K = 10
N_CANDIDATES = 200
MMR_LAMBDAS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.3)
DPP_THETAS = (0.9, 0.8, 0.7, 0.6, 0.5, 0.3)


def ndcg(picks: np.ndarray, relevant: set[int]) -> float:
    gains = np.array([1.0 if int(i) in relevant else 0.0 for i in picks])
    discounts = 1.0 / np.log2(np.arange(2, picks.size + 2))
    ideal = discounts[: min(len(relevant), picks.size)].sum()
    return float((gains * discounts).sum() / ideal) if ideal > 0 else 0.0


def ild(vectors: np.ndarray) -> float:
    n = vectors.shape[0]
    if n < 2:
        return 0.0
    sim = vectors @ vectors.T
    return float((1.0 - sim[np.triu_indices(n, 1)]).mean())


def methods():
    yield "none", lambda rel, vec: np.argsort(-rel, kind="stable")[:K]
    for lam in MMR_LAMBDAS:
        yield f"mmr_lambda={lam}", lambda rel, vec, lam=lam: mmr_select(rel, vec, K, lam)
    for theta in DPP_THETAS:
        yield f"dpp_theta={theta}", lambda rel, vec, theta=theta: dpp_select(rel, vec, K, theta)


def evaluate(world: World, registry: Path, n_users: int = 300) -> dict:
    reg = Registry(registry)
    tt_version = reg.open("two_tower")
    tower = TwoTowerModel.load(tt_version)
    ranker = LoadedModel.load(reg.open("ranker"))
    vectors = np.load(tt_version.file("item_vectors.npy"), allow_pickle=False)
    items = tower.items
    ds = data_mod.build(world)
    te = ds.test.take(ds.test.engaged)
    users = np.unique(te.user_idx)[:n_users]
    tr = ds.train
    results: dict[str, list[tuple[float, float, float, float]]] = {}
    for u in users:
        hist = tr.user_idx == u
        eng = hist & tr.engaged
        recent = items.item_id[tr.item_idx[eng][np.argsort(-tr.ts_ms[eng])][:50]]
        seen = set(items.item_id[tr.item_idx[hist]].tolist())
        f = world.follows
        follows = f["author_id"][(f["user_id"] == u + 1) & (f["ts_ms"] < ds.cutoff_ms)]
        state = UserStateData(known=True, recent_items=recent, followed_authors=follows,
                              age_bucket=int(world.users["age_bucket"][u]),
                              gender=int(world.users["gender"][u]), region=int(world.users["region"][u]))
        vec = tower.user_vector(recent, state.region, state.age_bucket, state.gender)
        ids, _ = tower.search(vec, N_CANDIDATES + len(seen))
        ids = np.array([i for i in ids.tolist() if i not in seen][:N_CANDIDATES], dtype=np.int64)
        scored = scoring.score(RequestContext(user_id=int(u) + 1), state, ids, ds.cutoff_ms, ranker)
        ids, rel = scored.item_ids, scored.fused
        idx = items.index_of(ids)
        vec_c = vectors[idx]
        relevant = set(items.item_id[te.item_idx[te.user_idx == u]].tolist())
        for name, pick in methods():
            chosen = pick(rel, vec_c)
            oracle = world.oracle_relevance(int(u) + 1, ids[chosen], ds.cutoff_ms).mean()
            cats = items.category[idx[chosen]]
            results.setdefault(name, []).append(
                (ndcg(ids[chosen], relevant), ild(vec_c[chosen]), len(set(cats.tolist())) / K, oracle))
    table = {name: dict(zip(("ndcg@10", "ild", "category_coverage", "oracle_like_prob"),
                            (round(float(v), 4) for v in np.mean(rows, axis=0))))
             for name, rows in results.items()}
    return {"users": int(users.size), "candidates": N_CANDIDATES, "k": K, "methods": table}


def write(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "rerank-tradeoff.json").write_text(json.dumps(report, indent=2))
    lines = [f"Rerank trade-off: {report['users']} test users, {report['candidates']} two-tower "
             f"candidates scored by the ranker, top {report['k']}.", "",
             "| method | NDCG@10 | intra-list diversity | category coverage | oracle like prob |",
             "|---|---|---|---|---|"]
    for name, m in report["methods"].items():
        lines.append(f"| {name} | {m['ndcg@10']:.4f} | {m['ild']:.3f} | {m['category_coverage']:.3f} "
                     f"| {m['oracle_like_prob']:.4f} |")
    (out / "rerank-tradeoff.md").write_text("\n".join(lines) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for prefix, marker in (("mmr", "o-"), ("dpp", "s-")):
        pts = [(m["ild"], m["ndcg@10"]) for n, m in report["methods"].items() if n.startswith(prefix)]
        ax.plot(*zip(*pts), marker, label=prefix.upper())
    none = report["methods"]["none"]
    ax.plot([none["ild"]], [none["ndcg@10"]], "k*", markersize=12, label="none")
    ax.set_xlabel("intra-list diversity (1 - cosine)")
    ax.set_ylabel("NDCG@10 (held-out engagements)")
    ax.legend()
    ax.set_title("Relevance vs diversity")
    fig.tight_layout()
    fig.savefig(out / "rerank-tradeoff.png", dpi=120)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate_rerank", description=__doc__.split("\n")[0])
    p.add_argument("--world", type=Path, default=Path("data/world"))
    p.add_argument("--registry", type=Path, default=Path("models"))
    p.add_argument("--out", type=Path, default=Path("reports"))
    p.add_argument("--users", type=int, default=300)
    args = p.parse_args(argv)
    if not (args.world / "world.json").exists():
        p.error(f"--world {args.world}: no world here (run `make train` first)")
    if not (args.registry / "ranker" / "aliases.json").exists():
        p.error(f"--registry {args.registry}: no live ranker (run `make train` first)")
    report = evaluate(World.load(args.world), args.registry, args.users)
    write(report, args.out)
    print((args.out / "rerank-tradeoff.md").read_text(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
