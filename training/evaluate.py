"""Offline evaluation: every model and baseline on one time split, side by side.

    python -m training.evaluate --dataset synthetic [--path data/world] --out reports/eval-synthetic.json
    python -m training.evaluate --dataset movielens --path ~/data/ml-100k --out reports/eval-ml100k.json
    python -m training.evaluate --dataset kuairand --path ~/data/KuaiRand-1K/data --out reports/eval-kuairand.json
    [--dump-recs recs.jsonl] [--epochs 2] [--users 1000] [--skip-bad-rows]

Trains what is needed (into a throw-away registry) and writes a JSON report, a Markdown
summary and PNG training curves beside it:

* retrieval, full ranking over the catalog, items the user met in training excluded:
  Recall@{50,100,500}, NDCG@10, HitRate@10 for popularity, item-CF, implicit ALS, the
  two-tower and the merged recall (RRF, the service's weights and quotas);
* ranking on the test impressions: AUC, GAUC (per user, like), logloss per task for logistic
  regression, the pre-rank and the ranker, plus the ranker without its sequence (ablation);
* the final pipeline offline, through the services' own code (recall channels -> merge ->
  DropSeen -> pre-rank -> rank -> rerank policy "default") for each test user: NDCG@10 and
  Recall@20 against the held-out engagements, catalog coverage, intra-list diversity.

`--dump-recs FILE` writes one JSON line per test user: {"user", "recs" (final top 20),
"test_items"}, so anyone can score the pipeline with their own code.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.context import RequestContext
from core.rank import scoring
from core.rank.model import LoadedModel
from core.recall.channels.item_cf import ItemCFChannel
from core.recall.channels.region import RegionChannel
from core.recall.channels.two_tower import TwoTowerModel
from core.recall.merge import DEFAULT_WEIGHTS, merge
from core.registry.reader import Registry
from core.rerank.candidates import ItemSide
from core.rerank.policies import build_policies
from core.store.user_state import UserStateData
from training import train
from training.data import Dataset
from training.evaluate_rerank import ild
from training.importers import DATASETS, BadInput
from training.importers import load as import_dataset
from training.metrics import hit_rate_at_k, ndcg_at_k, recall_at_k
from training.world import World

FEED = 20
QUOTAS = {"two_tower": 500, "item_cf": 300, "hot": 200, "region": 200, "follow": 100}
FOLLOW_WINDOW_MS = 7 * 86_400_000
RETRIEVAL_MODELS = ("popularity", "item_cf", "implicit_als", "two_tower", "follow", "merged")


# ---- baselines -----------------------------------------------------------------------------
def als_scores(factors: int = 64, iterations: int = 15, seed: int = 7):
    """implicit's ALS on the training engagements; returns fn(ds, users) -> [users, items] scores."""
    def score(ds: Dataset, users: np.ndarray) -> np.ndarray:
        import scipy.sparse as sp
        from implicit.als import AlternatingLeastSquares
        tr = ds.train
        n_users = int(max(tr.user_idx.max(initial=0), users.max(initial=0))) + 1
        weight = 1.0 + tr.engaged.astype(np.float32) * 4.0  # an engagement counts 5x an impression
        matrix = sp.csr_matrix((weight, (tr.user_idx, tr.item_idx)), shape=(n_users, len(ds.items)))
        from threadpoolctl import threadpool_limits
        model = AlternatingLeastSquares(factors=factors, iterations=iterations, regularization=0.05,
                                        random_state=seed)
        with threadpool_limits(1, "blas"):  # implicit's own threads do the work (its advice)
            model.fit(matrix, show_progress=False)
        uf, itf = np.asarray(model.user_factors), np.asarray(model.item_factors)
        return uf[users] @ itf.T
    return score


# ---- the pipeline, offline -------------------------------------------------------------------
def pipeline(world: World, ds: Dataset, registry: Path, max_users: int) -> tuple[dict, list[dict]]:
    """Recall -> pre-rank -> rank -> rerank with the services' code, for each test user."""
    reg = Registry(registry)
    tt = reg.open("two_tower")
    tower = TwoTowerModel.load(tt)
    cf = ItemCFChannel.load(reg.open("item_cf"))
    region = RegionChannel.load(reg.open("item_cf"))
    ranker, prerank = LoadedModel.load(reg.open("ranker")), LoadedModel.load(reg.open("prerank"))
    vectors = np.load(tt.file("item_vectors.npy"), allow_pickle=False)
    side = ItemSide(tower.items, vectors)
    policy = build_policies()["default"]
    items = tower.items
    popular = items.item_id[np.argsort(-items.log_pop, kind="stable")]
    te, tr = ds.test.take(ds.test.engaged), ds.train
    users = np.unique(te.user_idx)[:max_users]
    f = world.follows
    weights = [DEFAULT_WEIGHTS.get(n, 1.0) for n in QUOTAS]
    recs, per_user = [], []
    for u in users:
        hist = tr.user_idx == u
        eng = hist & tr.engaged
        recent = items.item_id[tr.item_idx[eng][np.argsort(-tr.ts_ms[eng], kind="stable")][:50]]
        seen = items.item_id[tr.item_idx[hist]]
        state = UserStateData(known=True, recent_items=recent, seen_items=seen,
                              followed_authors=f["author_id"][(f["user_id"] == u + 1) & (f["ts_ms"] < ds.cutoff_ms)],
                              age_bucket=int(world.users["age_bucket"][u]), gender=int(world.users["gender"][u]),
                              region=int(world.users["region"][u]))
        extra = seen.size
        vec = tower.user_vector(recent, state.region, state.age_bucket, state.gender)
        cf_idx, _ = cf.votes(items.index_of(recent[: cf.seeds]))
        fresh = (items.publish_ms >= ds.cutoff_ms - FOLLOW_WINDOW_MS) & (items.publish_ms < ds.cutoff_ms)
        follow = np.flatnonzero(fresh & np.isin(items.author_id, state.followed_authors))
        follow = items.item_id[follow[np.argsort(-items.publish_ms[follow], kind="stable")]]
        lists = {"two_tower": tower.search(vec, QUOTAS["two_tower"] + extra)[0],
                 "item_cf": items.item_id[cf_idx[: QUOTAS["item_cf"] + extra]],
                 "hot": popular[: QUOTAS["hot"] + extra],
                 "region": region.favourites(state.region, recent.size, QUOTAS["region"] + extra).item_ids,
                 "follow": follow[: QUOTAS["follow"] + extra]}
        merged = merge([(bit, np.asarray(ids, np.int64)) for bit, ids in enumerate(lists.values())], weights)
        cand = merged.item_ids[~np.isin(merged.item_ids, seen)][:1000]
        ctx = RequestContext(user_id=int(u) + 1, region=state.region)
        scored = scoring.score(ctx, state, cand, ds.cutoff_ms, ranker, prerank, 200, 50)
        result = policy.apply(side.candidates(scored.item_ids, scored.fused), FEED)
        feed = scored.item_ids[np.asarray(result.feed, np.int64)]
        truth = np.unique(items.item_id[te.item_idx[te.user_idx == u]])
        recs.append({"user": int(world.users["user_id"][u]), "recs": feed.tolist(), "test_items": truth.tolist()})
        per_user.append((feed, truth, ild(side.vectors[items.index_of(feed)])))
    feeds, truths = [p[0] for p in per_user], [p[1] for p in per_user]
    shown = np.unique(np.concatenate(feeds)) if feeds else np.zeros(0)
    metrics = {"ndcg@10": round(ndcg_at_k(feeds, truths, 10), 4), "recall@20": round(recall_at_k(feeds, truths), 4),
               "hitrate@10": round(hit_rate_at_k(feeds, truths, 10), 4),
               "coverage": round(shown.size / len(items), 4),
               "intra_list_diversity": round(float(np.mean([p[2] for p in per_user])) if per_user else 0.0, 4),
               "users": int(users.size)}
    return metrics, recs


# ---- the report ------------------------------------------------------------------------------
def evaluate(world: World, dataset: str, epochs: int = 2, seed: int = 7, max_users: int = 1000) -> tuple[dict, list]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="eval-registry-") as tmp:
        result = train.run_world(world, Path(tmp), epochs, seed,
                                 extra_retrieval={"implicit_als": als_scores(seed=seed)})
        ds = result.ds
        no_seq, no_seq_losses = train.train_ranker(ds, world, epochs, seed, use_sequence=False)[::2]
        ablation, _ = train.evaluate_ranker(ds, no_seq)
        pipe, recs = pipeline(world, ds, Path(tmp), max_users)
    r = result.metrics["retrieval"]
    retrieval = {}
    for model in RETRIEVAL_MODELS:
        retrieval[model] = {m.removeprefix(f"{model}_"): v for m, v in r.items() if m.startswith(f"{model}_")}
    ranking = {"lr": result.metrics["lr"], "prerank": result.metrics["prerank"], "ranker": result.metrics["ranker"],
               "ranker_no_sequence": ablation}
    report = {
        "dataset": dataset,
        "split": {"kind": "time", "cutoff_ts": int(ds.cutoff_ms), "start_ts": int(ds.start_ms),
                  "end_ts": int(ds.end_ms), "train_rows": len(ds.train), "test_rows": len(ds.test)},
        "catalog": {"users": world.config.n_users, "items": world.config.n_videos},
        "retrieval": retrieval,
        "ranking": ranking,
        "pipeline": pipe,
        "training_curves": result.losses | {"ranker_no_sequence": no_seq_losses},
        "seconds": round(time.monotonic() - started, 1),
        "skipped_rows": int(getattr(world, "skipped_rows", 0)),
    }
    return report, recs


def write(report: dict, out: Path, recs: list | None = None, dump_recs: Path | None = None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float))
    lines = [f"# Offline evaluation: {report['dataset']}", "",
             f"Time split at {report['split']['cutoff_ts']} ({report['split']['train_rows']:,} train / "
             f"{report['split']['test_rows']:,} test rows), {report['seconds']} s.", "",
             "## Retrieval (full catalog, seen items excluded)", "",
             "| model | recall@50 | recall@100 | recall@500 | ndcg@10 | hitrate@10 |", "|---|---:|---:|---:|---:|---:|"]
    for model, m in report["retrieval"].items():
        lines.append(f"| {model} | " + " | ".join(f"{m.get(k, float('nan')):.4f}" for k in
                                                  ("recall@50", "recall@100", "recall@500", "ndcg@10", "hitrate@10"))
                     + " |")
    lines += ["", "## Ranking (test impressions)", "", "| model | AUC like | GAUC like | logloss like | AUC complete | "
              "AUC share | AUC follow |", "|---|---:|---:|---:|---:|---:|---:|"]
    for model, m in report["ranking"].items():
        lines.append(f"| {model} | " + " | ".join(f"{m.get(k, float('nan')):.4f}" for k in
                                                  ("auc_like", "gauc_like", "logloss_like", "auc_complete", "auc_share",
                                                   "auc_follow")) + " |")
    p = report["pipeline"]
    lines += ["", "## Pipeline (recall → pre-rank → rank → rerank, top 20)", "",
              f"NDCG@10 {p['ndcg@10']:.4f}, Recall@20 {p['recall@20']:.4f}, HitRate@10 {p['hitrate@10']:.4f}, "
              f"coverage {p['coverage']:.4f}, intra-list diversity {p['intra_list_diversity']:.3f} "
              f"({p['users']} test users)."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, losses in report["training_curves"].items():
        ax.plot(range(1, len(losses) + 1), losses, marker="o", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title(f"training curves ({report['dataset']})")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=110)
    if dump_recs is not None:
        dump_recs.parent.mkdir(parents=True, exist_ok=True)
        with dump_recs.open("w") as f:
            for row in recs or []:
                f.write(json.dumps(row) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=("synthetic", *DATASETS), default="synthetic")
    p.add_argument("--path", type=Path, default=None, help="world folder (synthetic) or the dataset's files")
    p.add_argument("--out", type=Path, default=None, help="report file (default reports/eval-<dataset>.json)")
    p.add_argument("--dump-recs", type=Path, default=None, help="write each test user's final top 20 (JSON lines)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--users", type=int, default=1000, help="test users in the pipeline evaluation")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip (and count) malformed rows instead of stopping")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.users < 1:
        p.error("--epochs and --users must be >= 1")
    out = args.out or Path(f"reports/eval-{args.dataset}.json")
    try:
        if args.dataset == "synthetic":
            path = args.path or Path("data/world")
            if (path / "world.json").exists():
                world = World.load(path)
            else:
                from training.world import WorldConfig, generate
                if args.path is not None:
                    p.error(f"--path {path}: no world here (run `python -m training.world --out {path}`)")
                world = generate(WorldConfig())
        else:
            if args.path is None:
                p.error(f"--path is required for --dataset {args.dataset}")
            world = import_dataset(args.dataset, args.path, skip_bad=args.skip_bad_rows)
    except BadInput as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report, recs = evaluate(world, args.dataset, args.epochs, args.seed, args.users)
    write(report, out, recs, args.dump_recs)
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
