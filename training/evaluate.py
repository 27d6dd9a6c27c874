"""Offline evaluation: every model and baseline on one time split, side by side.

    python -m training.evaluate --dataset synthetic [--path data/world] --out reports/eval-synthetic.json
    python -m training.evaluate --dataset movielens --path ~/data/ml-100k --out reports/eval-ml100k.json
    python -m training.evaluate --dataset kuairand --path ~/data/KuaiRand-1K/data --out reports/eval-kuairand.json
    python -m training.evaluate --dataset generic --path path/to/folder   # training/importers/generic.py
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

from training import baselines, fusion, train
from training import data as data_mod
from training.data import Dataset
from training.evaluate_rerank import ild
from training.funnel import FEED, Funnel
from training.importers import DATASETS, BadInput
from training.importers import load as import_dataset
from training.metrics import hit_rate_at_k, ndcg_at_k, ndcg_per_user, ratio_ci, recall_at_k
from training.world import DAY_MS, World

RETRIEVAL_MODELS = ("popularity", "item_cf", "two_tower", "mf", "follow", "merged")


# ---- the pipeline, offline -------------------------------------------------------------------
STAGES = ("recall_top20", "merged_recall", "prerank", "rank", "final")


def eligible_users(ds: Dataset) -> np.ndarray:
    """0-based users with a positive before the cutoff and one after it (the dump's users)."""
    before = np.unique(ds.train.user_idx[ds.train.engaged])
    after = np.unique(ds.test.user_idx[ds.test.engaged])
    return np.intersect1d(before, after)


def metric_users(ds: Dataset, max_users: int, seed: int = 7) -> np.ndarray:
    """A seeded sample of at most `max_users` eligible users (sorted): the users every
    metric of the report is computed on."""
    users = eligible_users(ds)
    if users.size > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    return users


def list_metrics(lists: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, float]:
    return {"ndcg@10": round(ndcg_at_k(lists, truths, 10), 4),
            "recall@20": round(recall_at_k([x[:FEED] for x in lists], truths), 4),
            "hitrate@10": round(hit_rate_at_k(lists, truths, 10), 4)}


def pipeline(world: World, ds: Dataset, registry: Path, users: np.ndarray,
             dump_users: np.ndarray | None = None,
             merge_weights: dict[str, float] | None = None) -> tuple[dict, dict, list[dict]]:
    """Recall -> pre-rank -> rank -> rerank with the services' code, for each of `users`
    (metrics) and `dump_users` (the recommendations dump, in the dataset's own ids)."""
    funnel = Funnel(world, ds, registry, merge_weights=merge_weights)
    items = funnel.items
    te = ds.test.take(ds.test.engaged)
    te_order = np.argsort(te.user_idx, kind="stable")
    te_bounds = np.searchsorted(te.user_idx[te_order], np.arange(world.config.n_users + 1))
    orig = getattr(world, "original_ids", None)
    # .item(): the source id as JSON takes it (an int, or a string for logs with string ids)
    user_id = (lambda u: orig["user"][u].item()) if orig else (lambda u: int(world.users["user_id"][u]))
    item_id = (lambda ids: orig["item"][np.asarray(ids, np.int64) - 1].tolist()) if orig else (
        lambda ids: np.asarray(ids).tolist())
    measured = set(np.asarray(users).tolist())
    todo = np.union1d(users, dump_users if dump_users is not None else np.zeros(0, np.int64)).astype(np.int64)
    recs, stage_lists, truths, ilds, history = [], {}, [], [], []
    oracle = OracleCeilings(world, ds.cutoff_ms, items.item_id) if world.truth else None
    variants = rerank_variants()
    variant_feeds: dict[str, list] = {name: [] for name in variants}
    for u in todo:
        lists = funnel.run(int(u))
        if int(u) in measured:  # the same rank order through other policies (what each buys)
            fused = funnel.last_fused
            for name, pol in variants.items():
                result = pol.apply(funnel.side.candidates(lists["rank"], fused), FEED)
                variant_feeds[name].append(lists["rank"][np.asarray(result.feed, np.int64)])
        truth = np.unique(items.item_id[te.item_idx[te_order[te_bounds[u]:te_bounds[u + 1]]]])
        feed = lists["final"]
        if dump_users is not None:
            recs.append({"user": user_id(int(u)), "recs": item_id(feed), "test_items": item_id(truth)})
        if int(u) in measured:
            for name, ids in lists.items():
                stage_lists.setdefault(name, []).append(ids)
            truths.append(truth)
            ilds.append(ild(funnel.side.vectors[items.index_of(feed)]))
            if oracle is not None:
                oracle.add(int(u), funnel.last_state.seen_items, lists)
            history.append(int(funnel.bounds[u + 1] - funnel.bounds[u]))
    feeds = stage_lists.get("final", [])
    shown = np.unique(np.concatenate(feeds)) if feeds else np.zeros(0)
    rank_top = [x[:FEED] for x in stage_lists.get("rank", [])]
    metrics = list_metrics(feeds, truths) | {
        "coverage": round(shown.size / len(items), 4),
        "intra_list_diversity": round(float(np.mean(ilds)) if ilds else 0.0, 4),
        "users": int(len(truths))}
    stages = {name: list_metrics(stage_lists[name], truths) for name in STAGES if name in stage_lists}
    # per-user NDCG@10 of each stage and channel: the paired intervals in the report
    stages["_per_user"] = {name: ndcg_per_user(v, truths, 10) for name, v in stage_lists.items()}
    stages["channels"] = {name.removeprefix("channel:"): list_metrics(v, truths)
                          for name, v in stage_lists.items() if name.startswith("channel:")}
    # what the default rerank policy buys against the rank order's top 20
    rank_shown = np.unique(np.concatenate(rank_top)) if rank_top else np.zeros(0)
    stages["rerank_tradeoff"] = {
        "ndcg@10_change": round(stages["final"]["ndcg@10"] / max(stages["rank"]["ndcg@10"], 1e-12) - 1, 4)
        if "final" in stages else 0.0,
        "intra_list_diversity": {"rank_top20": round(float(np.mean([ild(funnel.side.vectors[items.index_of(x)])
                                                                   for x in rank_top])) if rank_top else 0.0, 4),
                                 "final": metrics["intra_list_diversity"]},
        "coverage": {"rank_top20": round(rank_shown.size / len(items), 4), "final": metrics["coverage"]},
        "distinct_authors": {
            "rank_top20": round(float(np.mean([np.unique(items.author_id[items.index_of(x)]).size for x in rank_top]))
                                if rank_top else 0.0, 2),
            "final": round(float(np.mean([np.unique(items.author_id[items.index_of(x)]).size for x in feeds]))
                           if feeds else 0.0, 2)}}
    # light vs heavy users (engaged-or-not history rows before the cutoff)
    hist = np.asarray(history)
    segments = {}
    if hist.size:
        cut = int(np.median(hist))
        for seg, mask in ((f"history<={cut}", hist <= cut), (f"history>{cut}", hist > cut)):
            idx = np.flatnonzero(mask)
            segments[seg] = {name: list_metrics([stage_lists[name][i] for i in idx], [truths[i] for i in idx])
                             | {"users": int(idx.size)} for name in ("merged_recall", "rank", "final")}
    stages["segments"] = segments
    if oracle is not None:
        stages["oracle"] = oracle.summary()
    stages["rerank_policies"] = {
        name: list_metrics(f, truths) | {
            "intra_list_diversity": round(float(np.mean([ild(funnel.side.vectors[items.index_of(x)]) for x in f]))
                                          if f else 0.0, 4),
            "distinct_authors": round(float(np.mean([np.unique(items.author_id[items.index_of(x)]).size
                                                     for x in f])) if f else 0.0, 2)}
        for name, f in variant_feeds.items()}
    return metrics, stages, recs


class OracleCeilings:
    """Where relevance is lost, by the world's truth (synthetic worlds only): for each stage's
    list, the mean true P(like) of its own top 10 ("top10": what the stage would show) and of
    the best 10 it holds ("best10": what a perfect ordering of what it kept would show),
    against the best 10 of the whole unseen catalog: `catalog`, the items the funnel serves
    from (so no list can hold more than the ceiling). best10 falling from one stage to the next
    is what the stage threw away; top10 far below best10 is what its ordering cannot find."""

    LISTS = ("merged_recall", "prerank", "rank", "final")

    def __init__(self, world: World, now_ms: int, catalog: np.ndarray):
        self.world, self.now = world, now_ms
        self.catalog = np.asarray(catalog, dtype=np.int64)
        self.rows: dict[str, list[float]] = {}
        self.category_trait = world.category_traits()

    def partial_oracles(self, u: int, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Orderings that know part of the truth perfectly (for the ceiling's decomposition):
        `no_taste`, each video's quality, age and region (what any non-personal list can at
        best know); `category_taste`, that plus the user's true taste against the mean trait
        of the video's category (all a model can know of a video that it has not learned by
        the video's own trait)."""
        w, v, c = self.world, self.world.videos, self.world.config
        idx = np.asarray(ids, np.int64) - 1
        age_days = np.clip((self.now - v["publish_ms"][idx]) / 86_400_000, 0, 30)
        no_taste = v["quality"][idx] + 0.3 * (v["region"][idx] == w.users["region"][u]) - 0.05 * age_days
        taste = w.taste_at(np.array([u]), self.now)[0]
        return {"no_taste": no_taste,
                "category_taste": no_taste + c.taste_weight * self.category_trait[v["category"][idx]] @ taste}

    def add(self, u: int, seen: np.ndarray, lists: dict[str, np.ndarray]) -> None:
        def rel(ids):
            return self.world.oracle_relevance(u + 1, np.asarray(ids, np.int64), self.now)
        unseen = self.catalog[~np.isin(self.catalog, seen)]
        truth = rel(unseen)
        self.rows.setdefault("catalog:best10", []).append(float(np.sort(truth)[-10:].mean()))
        for name, score in self.partial_oracles(u, unseen).items():
            self.rows.setdefault(f"oracle_{name}:top10", []).append(float(truth[np.argsort(-score)[:10]].mean()))
        for name in (*self.LISTS, *(k for k in lists if k.startswith("channel:"))):
            ids = lists.get(name)
            if ids is None or not len(ids):
                continue
            r = rel(ids)
            self.rows.setdefault(f"{name}:top10", []).append(float(r[:10].mean()))
            self.rows.setdefault(f"{name}:best10", []).append(float(np.sort(r)[-10:].mean()))

    def summary(self) -> dict:
        out = {}
        for key, v in self.rows.items():
            name, what = key.rsplit(":", 1)
            a = np.asarray(v)
            out.setdefault(name, {})[what] = {"mean": round(float(a.mean()), 4),
                                              "ci95": round(float(1.96 * a.std(ddof=1) / np.sqrt(a.size)), 4)
                                              if a.size > 1 else 0.0}
        return out


def rerank_variants() -> dict:
    """The named policies of core.rerank.policies, and the default with other MMR lambdas."""
    import copy
    import json as _json

    from core.rerank.policies import DEFAULT_POLICIES, build_policies
    spec = {k: v for k, v in DEFAULT_POLICIES.items()}
    for lam in (0.8, 0.9, 1.0):
        doc = copy.deepcopy(DEFAULT_POLICIES["default"])
        doc["selector"] = {"kind": "mmr", "lambda": lam}
        spec[f"default_mmr_lambda_{lam}"] = doc
    return build_policies(_json.dumps(spec))


def paired_ratios(per_user: dict[str, np.ndarray], baseline: np.ndarray, best: str) -> dict:
    """Each stage against the one before it, the merged recall against the best channel and
    the final feed against the best tuned baseline: NDCG@10 ratios over the same users with
    95% bootstrap intervals (the noise every claim of "adds" or "holds" must clear)."""
    channels = {k: v for k, v in per_user.items() if k.startswith("channel:")}
    best_channel = max(channels, key=lambda k: channels[k].mean()) if channels else None
    pairs = {"prerank/merged_recall": ("prerank", "merged_recall"), "rank/merged_recall": ("rank", "merged_recall"),
             "rank/prerank": ("rank", "prerank"), "final/rank": ("final", "rank"),
             "final/merged_recall": ("final", "merged_recall")}
    out = {name: ratio_ci(per_user[a], per_user[b]) for name, (a, b) in pairs.items()
           if a in per_user and b in per_user}
    if best_channel and "merged_recall" in per_user:
        out[f"merged_recall/{best_channel.removeprefix('channel:')}"] = ratio_ci(per_user["merged_recall"],
                                                                              per_user[best_channel])
    if "final" in per_user and baseline.size == per_user["final"].size:
        out[f"final/{best}"] = ratio_ci(per_user["final"], baseline)
    return out


# ---- the report ------------------------------------------------------------------------------
def window_end_ms(world: World, back_days: float) -> int:
    """Where a split's test window ends when it ends `back_days` before the log's end."""
    return world.config.end_ms - int(back_days * DAY_MS)


def evaluate(world: World, dataset: str, epochs: int = 2, seed: int = 7, max_users: int = 1000,
             dump: bool = False, fit_fusion: bool = True, back_days: float = 0.0) -> tuple[dict, list]:
    """`back_days` > 0 evaluates an earlier window: the split's test window ends that many
    days before the log's end, and every row after it is left out (models, fit and baselines
    see only what came before the window, as at the log's end)."""
    started = time.monotonic()
    end_ms = window_end_ms(world, back_days)
    ds = data_mod.build(world, end_ms=end_ms)
    users = metric_users(ds, max_users, seed)
    rows = baselines.Interactions(ds.train.user_idx, ds.train.item_idx, ds.train.ts_ms, ds.train.engaged,
                                  world.config.n_users, len(ds.items))
    te = ds.test.take(ds.test.engaged)
    truths = [np.unique(te.item_idx[te.user_idx == u]) for u in users]
    tuned = baselines.tune(rows, ds.cutoff_ms, ds.end_ms - ds.cutoff_ms, max_users=1000, seed=seed)
    print(f"baselines tuned: { {k: v['chosen'] for k, v in tuned.items()} }", file=sys.stderr)
    baseline_lists: dict[str, list] = {}
    tuned_metrics = baselines.evaluate(rows, ds.cutoff_ms, users, truths, tuned, baseline_lists)
    # the ranker's popularity feature takes the half-life that predicted the validation window best
    ds = data_mod.build(world, end_ms=end_ms, pop_half_life_h=tuned["popularity"]["chosen"]["half_life_h"])
    mf_params = tuned["implicit_als"]["chosen"]  # the mf channel is the tuned ALS, served
    fit = fusion.fit_on_validation(world, ds, epochs, seed, mf_params=mf_params) if fit_fusion else None
    with tempfile.TemporaryDirectory(prefix="eval-registry-") as tmp:
        result = train.run_world(world, Path(tmp), epochs, seed, ds=ds, eval_users=users,
                                 fusion_weights=fit["weights"] if fit else None, mf_params=mf_params)
        no_seq, no_seq_losses = train.train_ranker(ds, world, epochs, seed, use_sequence=False)[::2]
        ablation, _ = train.evaluate_ranker(ds, no_seq)
        pipe, stages, recs = pipeline(world, ds, Path(tmp), users, eligible_users(ds) if dump else None,
                                      fit["merge_weights"] if fit else None)
    r = result.metrics["retrieval"]
    retrieval = {}
    for model in RETRIEVAL_MODELS:
        retrieval[model] = {m.removeprefix(f"{model}_"): v for m, v in r.items() if m.startswith(f"{model}_")}
    # (the items table's popularity is the tuned decayed one: the tuned baseline below replaces it)
    retrieval.pop("popularity")
    retrieval |= tuned_metrics  # popularity, item_knn, implicit_als: tuned on the validation split
    ranking = {"lr": result.metrics["lr"], "prerank": result.metrics["prerank"], "ranker": result.metrics["ranker"],
               "ranker_no_sequence": ablation}
    best = max(("popularity", "item_knn", "implicit_als"), key=lambda m: retrieval[m]["ndcg@10"])
    stages["paired"] = paired_ratios(stages.pop("_per_user"), ndcg_per_user(baseline_lists[best], truths, 10), best)
    report = {
        "dataset": dataset,
        "split": {"kind": "time", "cutoff_ts": int(ds.cutoff_ms), "start_ts": int(ds.start_ms),
                  "end_ts": int(ds.end_ms), "back_days": back_days, "train_rows": len(ds.train),
                  "test_rows": len(ds.test)},
        "catalog": {"users": world.config.n_users, "items": world.config.n_videos},
        "users": {"metrics": int(users.size), "eligible": int(eligible_users(ds).size),
                  "rule": "a positive before the cutoff and one after it; metrics on a seeded sample of --users"},
        "heads": list(ds.heads),
        "retrieval": retrieval,
        "baselines": {"tuned": tuned, "best": best,
                      "final_vs_best": round(pipe["ndcg@10"] / max(retrieval[best]["ndcg@10"], 1e-12), 3)},
        "stages": stages,
        "fusion": fit or {"weights": {h: train.FUSION_WEIGHTS.get(h, 0.0) for h in ds.heads}, "fitted": False},
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
             f"{report['split']['test_rows']:,} test rows), {report['seconds']} s."
             + (f" An earlier window: the test window ends {report['split']['back_days']:g} days before the "
                "log's end, and nothing after it is used." if report["split"].get("back_days") else ""), "",
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
    st = report.get("stages")
    if st:
        lines += ["", "## Stages (the same users; each list as it stands after the stage)", "",
                  "| list | ndcg@10 | recall@20 | hitrate@10 |", "|---|---:|---:|---:|"]
        rows = [(f"channel {k} alone", v) for k, v in st["channels"].items()]
        rows += [(k, st[k]) for k in STAGES if k in st]
        rows += [(f"baseline {k} (tuned)", report["retrieval"][k]) for k in ("popularity", "item_knn", "implicit_als")
                 if k in report["retrieval"]]
        for name, m in rows:
            lines.append(f"| {name} | {m['ndcg@10']:.4f} | {m.get('recall@20', float('nan')):.4f} | "
                         f"{m['hitrate@10']:.4f} |")
        if st.get("paired"):
            lines += ["", "NDCG@10 ratios over the same users, with 95% bootstrap intervals (users resampled):", "",
                      "| ratio | value | 95% CI |", "|---|---:|---:|"]
            for name, r in st["paired"].items():
                lines.append(f"| {name} | {r['ratio']:.3f} | [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] |")
        t = st["rerank_tradeoff"]
        lines += ["", f"Default rerank policy vs the rank order's top 20: NDCG@10 {100 * t['ndcg@10_change']:+.1f}%, "
                  f"intra-list diversity {t['intra_list_diversity']['rank_top20']:.3f} → "
                  f"{t['intra_list_diversity']['final']:.3f}, distinct authors per feed "
                  f"{t['distinct_authors']['rank_top20']} → {t['distinct_authors']['final']}, catalog coverage "
                  f"{t['coverage']['rank_top20']:.4f} → {t['coverage']['final']:.4f}."]
        if st.get("rerank_policies"):
            lines += ["", "| rerank policy (same rank order) | ndcg@10 | recall@20 | intra-list diversity | "
                      "distinct authors |", "|---|---:|---:|---:|---:|"]
            for name, m in st["rerank_policies"].items():
                lines.append(f"| {name} | {m['ndcg@10']:.4f} | {m['recall@20']:.4f} | "
                             f"{m['intra_list_diversity']:.3f} | {m['distinct_authors']} |")
        if st.get("oracle"):
            o = st["oracle"]
            ceiling = o["catalog"]["best10"]["mean"]
            lines += ["", "Where relevance is lost, by the world's truth (mean P(like) of 10 videos, ± 95% CI): "
                      "the list's own top 10, and the best 10 it holds; share = of the unseen catalog's best 10 "
                      f"({ceiling:.4f}).", "",
                      "| list | top 10 | share | best 10 it holds | share |", "|---|---:|---:|---:|---:|"]
            for name, m in o.items():
                if name == "catalog" or name.startswith("oracle_"):
                    continue
                top, best = m["top10"], m["best10"]
                lines.append(f"| {name} | {top['mean']:.4f} ± {top['ci95']:.4f} | {top['mean'] / ceiling:.0%} | "
                             f"{best['mean']:.4f} ± {best['ci95']:.4f} | {best['mean'] / ceiling:.0%} |")
            partial = {k: m["top10"] for k, m in o.items() if k.startswith("oracle_")}
            if partial:
                lines += ["", "What part of the truth a list must know to get there: the top 10 of the unseen catalog "
                          "by orderings that know part of the truth perfectly.", "",
                          "| ordering | top 10 | share |", "|---|---:|---:|"]
                lines += [f"| {name} | {top['mean']:.4f} ± {top['ci95']:.4f} | {top['mean'] / ceiling:.0%} |"
                          for name, top in partial.items()]
        if st.get("segments"):
            lines += ["", "| users | merged_recall | rank | final | n |", "|---|---:|---:|---:|---:|"]
            for seg, m in st["segments"].items():
                lines.append(f"| {seg} | {m['merged_recall']['ndcg@10']:.4f} | {m['rank']['ndcg@10']:.4f} | "
                             f"{m['final']['ndcg@10']:.4f} | {m['final']['users']} |")
    b = report.get("baselines")
    if b:
        lines += ["", "## Baselines tuned on a validation split before the test cutoff", "",
                  "| model | grid | chosen | validation ndcg@10 |", "|---|---|---|---:|"]
        for name, t in b["tuned"].items():
            from training.baselines import GRIDS
            lines.append(f"| {name} | {GRIDS[name]} | {t['chosen']} | {t['validation']['ndcg@10']:.4f} |")
        lines += ["", f"Final feed NDCG@10 / best tuned baseline ({b['best']}): {b['final_vs_best']:.3f}x."]
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
    p.add_argument("--no-fit-fusion", action="store_true",
                   help="keep the default head-fusion weights (skips the validation-split fit)")
    p.add_argument("--back", type=float, default=0.0, metavar="DAYS",
                   help="evaluate an earlier window: the test window ends DAYS before the log's end")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip (and count) malformed rows instead of stopping")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.users < 1:
        p.error("--epochs and --users must be >= 1")
    if args.back < 0:
        p.error("--back must be >= 0 (days before the log's end)")
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
    cutoff_ms = window_end_ms(world, args.back) - world.config.test_days * DAY_MS
    if args.back and not np.any(world.impressions["ts_ms"] < cutoff_ms):
        p.error(f"--back {args.back:g}: no rows are left before that window (the log spans "
                f"{world.config.days} days, the test window {world.config.test_days:g})")
    report, recs = evaluate(world, args.dataset, args.epochs, args.seed, args.users, dump=args.dump_recs is not None,
                            fit_fusion=not args.no_fit_fusion, back_days=args.back)
    write(report, out, recs, args.dump_recs)
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
