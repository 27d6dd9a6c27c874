"""Train the models of the default pipeline and publish them to the registry.

    python -m training.train --world data/world --registry models
    python -m training.train --data path/to/folder   # your own log (training/importers/generic.py)

Two-tower (user tower + item tower + faiss index of item vectors) and the ranker, each
evaluated on a time split and published as a new live version with its manifest.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from core.items import ItemTable
from core.rank.features import (
    CAT_FEATURES,
    DURATION_EDGES,
    NUM_FEATURES,
    SEQ_LEN,
    assemble,
    vocab_sizes,
)
from core.rank.watch import FILE as WATCH_FILE
from core.rank.watch import WatchModel
from core.recall.ann import build_index
from core.recall.channels.item_cf import ItemCFChannel
from core.recall.channels.mf import MFModel
from core.recall.merge import DEFAULT_WEIGHTS, merge
from training import baselines, item_cf, mf, prerank_export, watch_mf
from training import data as data_mod
from training.data import Dataset, LogRows
from training.funnel import Recall
from training.metrics import auc, gauc, hit_rate_at_k, logloss, ndcg_at_k, recall_at_k
from training.models import zoo
from training.models.lr import LogisticRegression
from training.models.ranker import Ranker
from training.models.two_tower import ItemTower, UserTower, sampled_softmax_loss
from training.publish import publish
from training.world import World

# Head fusion before any fit (training.fusion fits them on a validation split): the dataset's
# positive first; a hate, where the data has it, is punished.
FUSION_WEIGHTS = {"engaged": 1.0, "like": 0.5, "complete": 0.25, "share": 0.5, "follow": 0.5, "click": 0.0,
                  "long_view": 0.0, "comment": 0.0, "hate": -1.0}
# The weight of the recall order in both stages' fused scores (core/rank/scoring.py), as
# a "recall_prior" entry beside the heads' weights; training.fusion fits it on validation.
RECALL_PRIOR = "recall_prior"
WATCH = "watch"  # the watch model's weight in the ranker's fused score (core/rank/watch.py)
DEFAULT_RECALL_PRIOR = 0.5  # where nothing was fitted (training.fusion.FIT_START)
# Where nothing was fitted (the fit itself starts the watch weight at 0): on the synthetic
# world's test users 0.1 lifted the rank order's NDCG@10 0.066 -> 0.073 and its true
# relevance 0.055 -> 0.074 (README, "Quality").
DEFAULT_WATCH_WEIGHT = 0.1
# Exposure bias: the logged impressions are what an old policy chose to show, but the ranker
# scores recall candidates from the whole catalog. Each engaged training row gets this many
# items of the same user and time, labelled 0 (training/data.py: sampled_negatives), drawn
# uniformly among the items of a logged impression's age. Measured on KuaiRand (600 test
# users, the merged candidates ordered by the engaged head alone, NDCG@10): 4 negatives half
# drawn by exposure 0.0097 (random order 0.0070: exposure-drawn negatives cancel the
# popularity that decides what gets engaged), 4 uniform 0.0253, 12 uniform 0.0302. (Uniform
# over the whole catalog made "young" look positive: see sampled_negatives.)
NEGATIVES_PER_POSITIVE = 12
NEGATIVES_UNIFORM_SHARE = 1.0
# ...and this many hard negatives from the user's own top CANDIDATE_NEGATIVE_DEPTH merged
# recall candidates at the cutoff (training/data.py: candidate_negatives): the items the
# ranker really has to order, which a draw from the catalog rarely meets. Synthetic world,
# fusion fixed: the truth's value of the feed's top 10 0.1053 -> 0.1099; closed loop
# (training.simulate seed 7, fusion refitted) 0.0905 -> 0.0940 (README, "Negatives from the
# recall candidates").
CANDIDATE_NEGATIVES_PER_POSITIVE = 4
CANDIDATE_NEGATIVE_DEPTH = 200
USER_TOWER_INPUTS = ("seq_items", "profile")
ITEM_META_COLUMNS = ("item", "author", "category", "region", "duration_bucket")
EMBED_DIM = 32
MODEL_NAMES = ("two_tower", "item_cf", "ranker", "prerank")
# Pre-rank targets: this share of the logged label, the rest the ranker's probability.
DISTILL_LABEL_WEIGHT = 0.5


def item_meta(items: ItemTable, with_ids: bool = True) -> np.ndarray:
    """Item tower input [N, 5]; ids off gives the metadata-only vector of a new item."""
    ids = np.arange(1, len(items) + 1) if with_ids else np.zeros(len(items), dtype=np.int64)
    dur = np.searchsorted(DURATION_EDGES, items.duration_s) + 1
    return np.stack([ids, items.author_id, items.category, items.region, dur], 1).astype(np.int64)


def _distributed():
    """torch.distributed when this runs under torchrun (WORLD_SIZE > 1), else None."""
    import torch.distributed as dist
    return dist if dist.is_available() and dist.is_initialized() else None


def _batches(n: int, size: int, rng: np.random.Generator, desc: str):
    """Shuffled mini-batches of row indices. Data-parallel: every process draws the same
    permutation (same seed) and takes its own stride of it, so shards are disjoint and every
    process runs the same number of steps."""
    order = rng.permutation(n)
    dist = _distributed()
    if dist is not None:
        ws = dist.get_world_size()
        order = order[: n - n % ws][dist.get_rank()::ws]
        size = max(1, size // ws)  # the global batch stays `size`
    for lo in tqdm(range(0, order.size, size), desc=desc, unit="batch", leave=False,
                   disable=dist is not None and dist.get_rank() > 0):
        yield torch.from_numpy(order[lo:lo + size])


def fit_modules(modules: list[torch.nn.Module], loss_of, n_rows: int, batch_size: int, epochs: int,
         lr: float, rng: np.random.Generator, name: str) -> list[float]:
    """Adam over `modules`, shuffled mini-batches of row indices; `loss_of(batch, *modules)` is
    the batch's mean loss, computed with the modules it is given. Under torchrun each module is
    given wrapped in PyTorch's DistributedDataParallel (gloo on CPU), which averages the
    gradients across processes during the backward pass. Returns the mean training loss per
    epoch (over all processes' rows)."""
    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    dist = _distributed()
    # find_unused_parameters: a batch may leave a parameter out of the graph (a head whose
    # labels are all masked, a sequence-free batch); DDP then still reduces every gradient.
    run_with = modules if dist is None else [
        torch.nn.parallel.DistributedDataParallel(m, find_unused_parameters=True) for m in modules]
    losses = []
    for epoch in range(epochs):
        for m in modules:
            m.train()
        total, n = 0.0, 0
        for b in _batches(n_rows, batch_size, rng, f"{name} epoch {epoch + 1}/{epochs}"):
            loss = loss_of(b, *run_with)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, n = total + loss.item() * len(b), n + len(b)
        if dist is not None:
            t = torch.tensor([total, float(n)], dtype=torch.float64)
            dist.all_reduce(t)
            total, n = float(t[0]), int(t[1])
        losses.append(total / max(n, 1))
    for m in modules:
        m.eval()
    return losses


def _export(module: torch.nn.Module, args: tuple, names: list[str], outputs: list[str],
            path: Path) -> None:
    """ONNX with a dynamic batch axis, weights inside the file.

    The TorchScript exporter (dynamo=False) is used on purpose: measured on the default
    ranker at 200 candidates, one thread, its graph runs in 1.55 ms against 2.27 ms for the
    torch.export-based one (same weights, same ONNX Runtime). It is deprecated upstream but
    supported by the pinned torch; the parity tests (training/export_test.py) guard both.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(module.eval(), args, str(path), input_names=names, output_names=outputs,
                          dynamic_axes={n: {0: "batch"} for n in names + outputs}, dynamo=False,
                          opset_version=17)


# ---- two-tower ---------------------------------------------------------------------------
def train_two_tower(ds: Dataset, world: World, epochs: int, seed: int,
                    temperature: float = 0.2, lr: float = 1e-2):
    c = world.config
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    pos = ds.train.take(ds.train.engaged)
    seq = torch.from_numpy(np.where(pos.users.seq_idx >= 0, pos.users.seq_idx + 1, 0))
    profile = torch.from_numpy(np.stack([pos.users.region, pos.users.age_bucket,
                                         pos.users.gender], 1).astype(np.int64))
    meta_all = torch.from_numpy(item_meta(ds.items))
    target = torch.from_numpy(pos.item_idx)
    freq = np.bincount(pos.item_idx, minlength=len(ds.items)) + 1.0
    log_q = torch.from_numpy(np.log(freq / freq.sum()).astype(np.float32))

    user_tower = UserTower(len(ds.items), c.n_regions, torch.from_numpy(ds.items.category),
                           torch.from_numpy(ds.items.author_id), dim=EMBED_DIM)
    item_tower = ItemTower(len(ds.items), c.n_authors, c.n_categories, c.n_regions,
                           DURATION_EDGES.size + 2, dim=EMBED_DIM)

    def loss_of(b, users, items):
        items_b = target[b]
        # Item-id dropout: teaches the item tower to place items by metadata alone.
        meta = meta_all[items_b].clone()
        meta[torch.rand(len(b)) < 0.1, 0] = 0
        return sampled_softmax_loss(users(seq[b], profile[b]), items(meta), items_b, log_q[items_b], temperature)

    losses = fit_modules([user_tower, item_tower], loss_of, len(pos), 512, epochs, lr, rng, "two-tower")
    return user_tower, item_tower, losses


def _user_state_at(ds: Dataset, world: World, until_ms: int):
    """Each user's last SEQ_LEN engaged items (dense) before `until_ms`, most recent first."""
    tr = ds.train
    out = np.full((world.config.n_users, SEQ_LEN), -1, dtype=np.int64)
    eng = tr.engaged & (tr.ts_ms < until_ms)
    u, i, t = tr.user_idx[eng], tr.item_idx[eng], tr.ts_ms[eng]
    order = np.lexsort((-t, u))
    u, i = u[order], i[order]
    first = np.searchsorted(u, np.arange(world.config.n_users))
    rank = np.arange(u.size) - first[u]
    keep = rank < SEQ_LEN
    out[u[keep], rank[keep]] = i[keep]
    return out


def evaluate_retrieval(ds: Dataset, world: World, user_tower, item_vecs: np.ndarray,
                       cf: ItemCFChannel, ks=(50, 100, 500), max_users: int = 1000,
                       extra: dict | None = None, users: np.ndarray | None = None,
                       mf: MFModel | None = None) -> dict[str, float]:
    """Recall@k on the test window for two-tower, item-CF (u2i2i), mf (when given) and
    popularity, with the users' state at the cutoff; items the user met in training are
    excluded. `users` (0-based) default to the first `max_users` with a positive in the test
    window (none, and no metrics, where the split has no test window: a serving version)."""
    te = ds.test.take(ds.test.engaged)
    if len(te) == 0:
        return {}
    users = np.unique(te.user_idx)[:max_users] if users is None else np.asarray(users, np.int64)
    truth = [np.unique(te.item_idx[te.user_idx == u]) for u in users]
    seqs = _user_state_at(ds, world, ds.cutoff_ms)[users]
    prof = np.stack([world.users["region"][users], world.users["age_bucket"][users],
                     world.users["gender"][users]], 1).astype(np.int64)
    with torch.no_grad():
        uvec = user_tower(torch.from_numpy(np.where(seqs >= 0, seqs + 1, 0)),
                          torch.from_numpy(prof)).numpy()
    seen = np.zeros((users.size, len(ds.items)), dtype=bool)
    pos = {u: k for k, u in enumerate(users)}
    tr = ds.train
    sel = np.isin(tr.user_idx, users)
    seen[[pos[u] for u in tr.user_idx[sel]], tr.item_idx[sel]] = True
    cf_scores = np.full(seen.shape, -1.0)
    for row, seq in enumerate(seqs):
        idx, votes = cf.votes(seq[seq >= 0][: cf.seeds])
        cf_scores[row, idx] = votes
    scores = {"two_tower": uvec @ item_vecs.T, "item_cf": cf_scores,
              "popularity": np.broadcast_to(ds.items.log_pop, seen.shape).copy()}
    if mf is not None:  # the user's vector folded in from the training rows, as served
        eng = np.zeros_like(seen)
        sel_eng = sel & tr.engaged
        eng[[pos[u] for u in tr.user_idx[sel_eng]], tr.item_idx[sel_eng]] = True
        vecs = [mf.user_vector(np.flatnonzero(e), np.flatnonzero(s_)) for e, s_ in zip(eng, seen)]
        zero = np.zeros(mf.factors.shape[1])
        scores["mf"] = np.stack([zero if v is None else v for v in vecs]) @ mf.factors.T.astype(np.float64)
    for name, score_fn in (extra or {}).items():  # baselines trained by the caller (e.g. ALS)
        scores[name] = score_fn(ds, users)
    out, tops = {}, {}
    for name, s in scores.items():
        s = np.where(seen, -np.inf, s)
        tops[name] = top = np.argsort(-s, axis=1)[:, :max(ks)]
        if name == "item_cf":  # only items that got votes: the channel returns no others
            tops[name] = [t[s_row[t] > -1.0] for t, s_row in zip(top, s)]
        for k in ks:
            out[f"{name}_recall@{k}"] = round(recall_at_k([t[:k] for t in tops[name]], truth), 4)
        out[f"{name}_ndcg@10"] = round(ndcg_at_k(tops[name], truth), 4)
        out[f"{name}_hitrate@10"] = round(hit_rate_at_k(tops[name], truth), 4)
    # The merged reservoir as the recall service builds it: RRF over the channels' lists.
    # The follow channel: uploads of the authors the user follows (at the cutoff) from the
    # last 7 days before it, newest first, never items the user met in training.
    f, it = world.follows, ds.items
    since = ds.cutoff_ms - 7 * 86_400_000
    fresh = np.flatnonzero((it.publish_ms >= since) & (it.publish_ms < ds.cutoff_ms))
    fresh = fresh[np.argsort(-it.publish_ms[fresh], kind="stable")]
    tops["follow"] = []
    for row, u in enumerate(users):
        authors = f["author_id"][(f["user_id"] == u + 1) & (f["ts_ms"] < ds.cutoff_ms)]
        picks = fresh[np.isin(it.author_id[fresh], authors)]
        tops["follow"].append(picks[~seen[row, picks]][:100])
    for k in ks:
        out[f"follow_recall@{k}"] = round(recall_at_k([t[:k] for t in tops["follow"]], truth), 4)
    out["follow_ndcg@10"] = round(ndcg_at_k(tops["follow"], truth), 4)
    out["follow_hitrate@10"] = round(hit_rate_at_k(tops["follow"], truth), 4)
    # (offline, popularity stands in for the hot channel; quotas as the service's defaults)
    quota = {"two_tower": 500, "item_cf": 300, "popularity": 200, "follow": 100} | ({"mf": 300} if mf else {})
    weights = [DEFAULT_WEIGHTS.get({"popularity": "hot"}.get(n, n), 1.0) for n in quota]
    channels = list(quota)
    merged = [merge([(bit, np.asarray(tops[name][row][: quota[name]], np.int64)) for bit, name in enumerate(channels)],
                    weights).item_ids for row in range(users.size)]
    for k in ks:
        out[f"merged_recall@{k}"] = round(recall_at_k([m[:k] for m in merged], truth), 4)
    out["merged_ndcg@10"] = round(ndcg_at_k(merged, truth), 4)
    out["merged_hitrate@10"] = round(hit_rate_at_k(merged, truth), 4)
    return out


# ---- ranker ------------------------------------------------------------------------------
POP_COL = NUM_FEATURES.index("item_log_pop")


def _ranker_tensors(ds: Dataset, rows) -> dict[str, torch.Tensor]:
    x = assemble(ds.items, rows.item_idx, rows.users)
    if ds.pop_at is not None:  # the popularity as of each row's time, not the cutoff's
        x["num"][:, POP_COL] = np.log1p(ds.pop_at(rows.item_idx, rows.ts_ms))
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in x.items()}


def ranker_rows(ds: Dataset, world: World, seed: int, per_positive: int | None = None,
                recall: Recall | None = None, per_positive_candidates: int | None = None) -> LogRows:
    """The logged training impressions plus unshown items labelled 0 (exposure bias):
    `per_positive` sampled from the catalog for each engaged row and, given the `recall`
    stage of the models being trained (training.funnel.Recall), `per_positive_candidates`
    from the user's own recall candidates at the cutoff."""
    per_positive = NEGATIVES_PER_POSITIVE if per_positive is None else per_positive
    per_cand = CANDIDATE_NEGATIVES_PER_POSITIVE if per_positive_candidates is None else per_positive_candidates
    rows, engaged = ds.train, ds.train.take(ds.train.engaged)
    if per_positive > 0:
        rng = np.random.default_rng(seed + 101)
        rows = data_mod.concat(rows, data_mod.sampled_negatives(ds, world, engaged, per_positive, rng,
                                                                NEGATIVES_UNIFORM_SHARE))
    if recall is not None and per_cand > 0:
        rng = np.random.default_rng(seed + 103)
        neg = data_mod.candidate_negatives(ds, world, engaged, per_cand, rng,
                                           lambda u: recall.candidates(u)[3][:CANDIDATE_NEGATIVE_DEPTH])
        print(f"ranker rows: {len(neg)} negatives from the recall candidates", file=sys.stderr)
        rows = data_mod.concat(rows, neg)
    return rows


def train_ranker(ds: Dataset, world: World, epochs: int, seed: int, use_sequence: bool = True,
                 architecture: str = zoo.DEFAULT_RANKER, rows: LogRows | None = None):
    """`architecture` names a `training.models.zoo` entry (its default hyper-parameters);
    `use_sequence=False` is DIN's no-sequence ablation; `rows` default to the logged
    training impressions."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    c = world.config
    rows = ranker_rows(ds, world, seed) if rows is None else rows
    vocab = vocab_sizes(ds.items, c.n_regions, c.n_authors, c.n_categories)
    model, _ = zoo.build(architecture, [vocab[f] for f in CAT_FEATURES], len(NUM_FEATURES), len(ds.heads),
                         SEQ_LEN, **({} if use_sequence else {"use_sequence": False}))
    x = _ranker_tensors(ds, rows)
    y = torch.from_numpy(rows.labels)

    def loss_of(b, m):
        p = m(x["cat"][b], x["num"][b], x["seq_items"][b], x["seq_cats"][b])
        return F.binary_cross_entropy(p.clamp(1e-6, 1 - 1e-6), y[b])

    losses = fit_modules([model], loss_of, len(rows), 1024, epochs, 2e-3, rng, "ranker")
    return model, vocab, losses


def train_prerank(ds: Dataset, ranker: Ranker, vocab: dict[str, int], epochs: int, seed: int,
                  architecture: str = zoo.DEFAULT_PRERANK, rows: LogRows | None = None):
    """Distil the ranker into the pre-ranker (`architecture`: a `zoo.PRERANKERS` name),
    blended with the labels (on the ranker's rows)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    rows = ds.train if rows is None else rows
    x = _ranker_tensors(ds, rows)
    with torch.no_grad():
        teacher = torch.cat([ranker(x["cat"][b], x["num"][b], x["seq_items"][b], x["seq_cats"][b])
                             for b in torch.arange(len(rows)).split(8192)])
    target = DISTILL_LABEL_WEIGHT * torch.from_numpy(rows.labels) + (1 - DISTILL_LABEL_WEIGHT) * teacher
    model, _ = zoo.build_prerank(architecture, [vocab[f] for f in CAT_FEATURES], len(NUM_FEATURES), len(ds.heads))
    names = zoo.input_names(model)  # (cat, num); the two-tower pre-ranker reads the sequence too

    def loss_of(b, m):
        return F.binary_cross_entropy(m(*(x[n][b] for n in names)).clamp(1e-6, 1 - 1e-6), target[b])

    losses = fit_modules([model], loss_of, len(rows), 1024, epochs, 3e-3, rng, "pre-rank")
    return model, losses


def train_lr(ds: Dataset, vocab: dict[str, int], epochs: int, seed: int):
    """The logistic-regression baseline on the logged labels (same features, no crossing)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = _ranker_tensors(ds, ds.train)
    y = torch.from_numpy(ds.train.labels)
    model = LogisticRegression([vocab[f] for f in CAT_FEATURES], len(NUM_FEATURES), len(ds.heads))

    def loss_of(b, m):
        return F.binary_cross_entropy(m(x["cat"][b], x["num"][b]).clamp(1e-6, 1 - 1e-6), y[b])

    losses = fit_modules([model], loss_of, len(ds.train), 1024, epochs, 1e-2, rng, "logistic regression")
    return model, losses


def golden_sample(ds: Dataset, n: int) -> LogRows:
    """The parity sample a version ships (golden.npz): the first `n` test rows, or the last
    `n` training rows where the split has no test window (a serving version)."""
    if len(ds.test):
        return ds.test.take(np.arange(len(ds.test)) < n)
    return ds.train.take(np.arange(len(ds.train)) >= len(ds.train) - n)


def evaluate_ranker(ds: Dataset, model: torch.nn.Module) -> tuple[dict[str, float], np.ndarray]:
    """Test-window AUC, log loss and GAUC per head (none without a test window) and the
    predictions."""
    if len(ds.test) == 0:
        return {}, np.zeros((0, len(ds.heads)), np.float32)
    x = _ranker_tensors(ds, ds.test)
    with torch.no_grad():
        p = model(*(x[n] for n in zoo.input_names(model))).numpy()
    out = {}
    for h, name in enumerate(ds.heads):
        out[f"auc_{name}"] = round(auc(ds.test.labels[:, h], p[:, h]), 4)
        out[f"logloss_{name}"] = round(logloss(ds.test.labels[:, h], p[:, h]), 4)
    out["gauc_like"] = round(float(gauc(ds.test.user_idx, ds.test.labels[:, 0], p[:, 0])), 4)
    return out, p


def feature_defaults(items: ItemTable) -> dict[str, float]:
    """What an item the serving table does not know looks like: a typical duration, no
    engagement yet."""
    return {"duration_s": float(np.median(items.duration_s)) if len(items) else 30.0, "log_pop": 0.0}


def schema_hash(doc: dict) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TrainResult:
    versions: dict[str, str]               # model name -> published version
    ds: Dataset                            # the split everything was trained / evaluated on
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> offline metrics
    losses: dict[str, list[float]] = field(default_factory=dict)        # model -> loss per epoch


def run(world_dir: Path, registry: Path, epochs: int = 2, seed: int = 7, fit: bool = False,
        architecture: str = zoo.DEFAULT_RANKER, prerank: str = zoo.DEFAULT_PRERANK,
        serving: bool = False) -> dict[str, str]:
    """Train and publish. `fit`: first choose the popularity feature's half-life, the mf
    channel's ALS settings and the head-fusion weights on a validation split before the cutoff (training.baselines,
    training.fusion; about twice the training time), and print the recall merge weights
    fitted there (the recall service reads them from RECALL_WEIGHTS). `architecture` and
    `prerank` name the ranker and the pre-ranker (`training.models.zoo`). `serving`: the
    published versions learn from every row, the test window included (no test metrics):
    what a deployment serves from; the fits still hold the window out."""
    world = World.load(world_dir)
    if not fit:
        return run_world(world, registry, epochs, seed, ds=serving_split(world) if serving else None,
                         architecture=architecture, prerank_architecture=prerank).versions
    from training import fusion
    ds = data_mod.build(world)
    rows = baselines.Interactions(ds.train.user_idx, ds.train.item_idx, ds.train.ts_ms, ds.train.engaged,
                                  world.config.n_users, len(ds.items))
    tuned = baselines.tune(rows, ds.cutoff_ms, ds.end_ms - ds.cutoff_ms, seed=seed,
                           models=("popularity", "implicit_als"))
    ds = data_mod.build(world, pop_half_life_h=tuned["popularity"]["chosen"]["half_life_h"])
    mf_params = tuned["implicit_als"]["chosen"]  # the mf channel is the tuned ALS, served
    fit_doc = fusion.fit_on_validation(world, ds, epochs, seed, mf_params=mf_params)
    print("recall merge weights fitted on the validation split (published in the two-tower "
          f"manifest; RECALL_WEIGHTS overrides): {json.dumps(fit_doc['merge_weights'])}", file=sys.stderr)
    if serving:
        ds = serving_split(world, ds.pop_half_life_h)
    return run_world(world, registry, epochs, seed, ds=ds, fusion_weights=fit_doc["weights"],
                     merge_weights=fit_doc["merge_weights"], mf_params=mf_params,
                     architecture=architecture, prerank_architecture=prerank).versions


def fit_watch(ds: Dataset, world: World, seed: int) -> WatchModel | None:
    """The watch model (training/watch_mf.py) on the split's training rows; None where the
    log has no watch times (under a tenth of the rows watched: MovieLens, a log without the
    column)."""
    imp = world.impressions
    watch = imp["watch_ms"][imp["ts_ms"] < ds.cutoff_ms]  # the training rows, in the order LogRows keeps them
    if len(ds.train) != watch.size or np.count_nonzero(watch) < 0.1 * max(watch.size, 1):
        return None
    tr = ds.train
    return watch_mf.fit_log(world.users["user_id"][tr.user_idx], tr.item_idx, watch, ds.items, seed=seed,
                            ts_ms=tr.ts_ms)


def serving_split(world: World, pop_half_life_h: float = data_mod.POP_HALF_LIFE_H) -> Dataset:
    """Every row of the log as training data, no test window: the models a deployment
    publishes. (Trained on the evaluation's split instead, the served versions knew nothing of
    the log's last `test_days`, its youngest videos included: the synthetic world's simulator
    measured the difference, README "Quality".)"""
    return data_mod.build(world, test_days=0.0, pop_half_life_h=pop_half_life_h)


# The two-tower takes three passes, whatever the ranker's epochs: more overfit. NDCG@10 of the
# channel alone by passes, two seeds each: KuaiRand 1: .0224/.0228, 2: .0295/.0253,
# 3: .0326/.0307, 4: .0306/.0304, 6: .0302/.0274, 10: .0250; synthetic 3: .0386/.0355,
# 6: .0400/.0323 (README, "Quality").
TOWER_PASSES_PER_EPOCH, TOWER_EPOCHS_MAX = 3, 3


def tower_epochs(epochs: int) -> int:
    return min(TOWER_PASSES_PER_EPOCH * epochs, TOWER_EPOCHS_MAX)


def run_world(world: World, registry: Path, epochs: int = 2, seed: int = 7,
              extra_retrieval: dict | None = None, ds: Dataset | None = None,
              fusion_weights: dict[str, float] | None = None,
              eval_users: np.ndarray | None = None, architecture: str = zoo.DEFAULT_RANKER,
              prerank_architecture: str = zoo.DEFAULT_PRERANK,
              merge_weights: dict[str, float] | None = None, mf_params: dict | None = None) -> TrainResult:
    """Train every model on the world's time split (or `ds`, e.g. a validation split),
    evaluate, publish; `extra_retrieval` adds baselines (name -> fn(ds, users) -> scores) to
    the retrieval evaluation, on `eval_users` (default the first 1000 test users);
    `fusion_weights` (head -> weight) go to the ranker's and pre-ranker's manifests;
    `architecture` and `prerank_architecture` name the ranker and the pre-ranker;
    `merge_weights` (channel -> RRF weight, fitted) go to the two-tower manifest, where the
    recall service reads them; `mf_params` are the mf channel's ALS settings (training/mf.py;
    default its DEFAULT_PARAMS)."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    ds = data_mod.build(world) if ds is None else ds
    fusion = {h: float((fusion_weights or FUSION_WEIGHTS).get(h, 0.0)) for h in ds.heads}
    prior = float((fusion_weights or {}).get(RECALL_PRIOR, DEFAULT_RECALL_PRIOR))
    watch_weight = float((fusion_weights or {}).get(WATCH, DEFAULT_WATCH_WEIGHT))
    print(f"data: {len(ds.train)} train rows, {len(ds.test)} test rows, "
          f"cutoff {ds.cutoff_ms}", file=sys.stderr)
    data_range = {"start_ms": ds.start_ms, "cutoff_ms": ds.cutoff_ms, "end_ms": ds.end_ms}
    versions = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ds.items.save(tmp / "items.npz")

        # two-tower
        user_tower, item_tower, tt_losses = train_two_tower(ds, world, tower_epochs(epochs), seed)
        with torch.no_grad():
            vecs = item_tower(torch.from_numpy(item_meta(ds.items))).numpy().astype(np.float32)
        tr = ds.train
        cf_table = item_cf.build(tr.user_idx[tr.engaged], tr.item_idx[tr.engaged],
                                 tr.ts_ms[tr.engaged], len(ds.items))
        cf = ItemCFChannel(cf_table, ds.items)
        mf_model = mf.fit(baselines.Interactions(tr.user_idx, tr.item_idx, tr.ts_ms, tr.engaged,
                                                 world.config.n_users, len(ds.items)), mf_params, seed)
        tt_metrics = evaluate_retrieval(ds, world, user_tower, vecs, cf, extra=extra_retrieval, users=eval_users,
                                        mf=mf_model)
        print(f"retrieval: {tt_metrics}", file=sys.stderr)
        cf_table.save(tmp / "neighbors.npz")
        mf_doc = mf_model.save(tmp)
        eng = tr.engaged
        item_cf.region_favourites(tr.users.region[eng], tr.item_idx[eng], tr.ts_ms[eng]).save(
            tmp / "region_top.npz")
        versions["item_cf"] = publish(registry, "item_cf", {
            "neighbors.npz": tmp / "neighbors.npz", "region_top.npz": tmp / "region_top.npz",
            "items.npz": tmp / "items.npz", **MFModel.files(tmp)}, {
            "kind": "item_cf", "inputs": [], "outputs": [],
            "feature_order": {}, "params": {"window": 5, "k": int(np.diff(cf_table.indptr).max(initial=0))},
            "mf": mf_doc, "data_range": data_range,
            "metrics": {k: v for k, v in tt_metrics.items() if k.startswith(("item_cf", "mf_"))}})
        index, index_doc = build_index(vecs)
        faiss.write_index(index, str(tmp / "index.faiss"))
        np.save(tmp / "item_vectors.npy", vecs)
        n = 2
        _export(user_tower, (torch.zeros(n, SEQ_LEN, dtype=torch.int64),
                             torch.ones(n, 3, dtype=torch.int64)),
                list(USER_TOWER_INPUTS), ["user_vec"], tmp / "user_tower.onnx")
        _export(item_tower, (torch.ones(n, 5, dtype=torch.int64),), ["meta"], ["item_vec"],
                tmp / "item_tower.onnx")
        tt_schema = {"user_tower": {"seq_items": SEQ_LEN, "profile": ["region", "age_bucket",
                                                                      "gender"]},
                     "item_tower": list(ITEM_META_COLUMNS)}
        versions["two_tower"] = publish(registry, "two_tower", {
            "user_tower.onnx": tmp / "user_tower.onnx", "item_tower.onnx": tmp / "item_tower.onnx",
            "index.faiss": tmp / "index.faiss", "item_vectors.npy": tmp / "item_vectors.npy",
            "items.npz": tmp / "items.npz"}, {
            "kind": "two_tower",
            "inputs": [{"name": "seq_items", "dtype": "int64", "shape": ["batch", SEQ_LEN]},
                       {"name": "profile", "dtype": "int64", "shape": ["batch", 3]}],
            "outputs": [{"name": "user_vec", "dtype": "float32", "shape": ["batch", EMBED_DIM]}],
            "feature_order": tt_schema, "feature_schema_hash": schema_hash(tt_schema),
            "index": index_doc, **({"merge_weights": merge_weights} if merge_weights else {}),
            "data_range": data_range, "metrics": tt_metrics,
            "train_loss": [round(v, 4) for v in tt_losses]})

        # ranker
        rows = ranker_rows(ds, world, seed, recall=Recall(world, ds, registry, merge_weights))
        ranker, vocab, rk_losses = train_ranker(ds, world, epochs, seed, architecture=architecture, rows=rows)
        rk_metrics, _ = evaluate_ranker(ds, ranker)
        print(f"ranker: {rk_metrics}", file=sys.stderr)
        golden_rows = golden_sample(ds, 64)
        golden = {k: v.numpy() for k, v in _ranker_tensors(ds, golden_rows).items()}
        with torch.no_grad():
            golden["expected"] = ranker(*(torch.from_numpy(golden[k]) for k in
                                          ("cat", "num", "seq_items", "seq_cats"))).numpy()
        np.savez(tmp / "golden.npz", **golden)
        _export(ranker, tuple(torch.from_numpy(golden[k][:2]) for k in
                              ("cat", "num", "seq_items", "seq_cats")),
                ["cat", "num", "seq_items", "seq_cats"], ["heads"], tmp / "model.onnx")
        rk_schema = {"cat": list(CAT_FEATURES), "num": list(NUM_FEATURES), "seq_len": SEQ_LEN,
                     "vocab": vocab}
        watch = fit_watch(ds, world, seed)
        watch_doc = watch.save(tmp) if watch is not None else None
        versions["ranker"] = publish(registry, "ranker", {
            "model.onnx": tmp / "model.onnx", "items.npz": tmp / "items.npz",
            "golden.npz": tmp / "golden.npz", **({WATCH_FILE: tmp / WATCH_FILE} if watch is not None else {})}, {
            "kind": "ranker", "architecture": architecture, "hyperparameters": zoo.hyperparameters(architecture),
            "inputs": [{"name": "cat", "dtype": "int64", "shape": ["batch", len(CAT_FEATURES)]},
                       {"name": "num", "dtype": "float32", "shape": ["batch", len(NUM_FEATURES)]},
                       {"name": "seq_items", "dtype": "int64", "shape": ["batch", SEQ_LEN]},
                       {"name": "seq_cats", "dtype": "int64", "shape": ["batch", SEQ_LEN]}],
            "outputs": [{"name": "heads", "dtype": "float32", "shape": ["batch", len(ds.heads)]}],
            "heads": list(ds.heads), "fusion_weights": fusion, "recall_prior_weight": prior,
            **({"watch": watch_doc, "watch_weight": watch_weight} if watch is not None else {}),
            "feature_defaults": feature_defaults(ds.items),
            "feature_order": rk_schema, "feature_schema_hash": schema_hash(rk_schema),
            "data_range": data_range, "metrics": rk_metrics,
            "train_loss": [round(v, 4) for v in rk_losses]})

        # pre-rank, distilled from the ranker
        prerank, pr_losses = train_prerank(ds, ranker, vocab, epochs, seed, prerank_architecture, rows=rows)
        pr_metrics, _ = evaluate_ranker(ds, prerank)
        print(f"pre-rank: {pr_metrics}", file=sys.stderr)
        versions["prerank"] = prerank_export.publish_prerank(
            registry, prerank, ds, prerank_architecture, vocab, fusion, teacher=f"ranker/{versions['ranker']}",
            label_weight=DISTILL_LABEL_WEIGHT, data_range=data_range, metrics=pr_metrics, losses=pr_losses,
            items_file=tmp / "items.npz", recall_prior_weight=prior)
    lr, lr_losses = train_lr(ds, vocab, epochs, seed)  # the baseline every evaluation keeps
    lr_metrics, _ = evaluate_ranker(ds, lr)
    print(f"logistic regression: {lr_metrics}", file=sys.stderr)
    return TrainResult(versions, ds, {"retrieval": tt_metrics, "ranker": rk_metrics, "prerank": pr_metrics,
                                      "lr": lr_metrics},
                       {"two_tower": tt_losses, "ranker": rk_losses, "prerank": pr_losses, "lr": lr_losses})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n")[0])
    p.add_argument("--world", type=Path, default=Path("data/world"), help="world folder")
    p.add_argument("--data", type=Path, help="a log folder to import and train on instead of --world "
                   "(the generic schema, KuaiRand or MovieLens; see training/importers/generic.py)")
    p.add_argument("--preset", default="auto", help="with --data: auto, generic, kuairand or movielens")
    p.add_argument("--skip-bad-rows", action="store_true", help="with --data: skip and count malformed rows")
    p.add_argument("--data-root", type=Path, default=Path("data/datasets"),
                   help="with --data: where imported datasets are kept (one folder per input's content hash)")
    p.add_argument("--registry", type=Path, default=None,
                   help="model registry root (default: models, or the imported dataset's models/ with --data)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--ranker", default=zoo.DEFAULT_RANKER, choices=sorted(zoo.RANKERS),
                   help="ranking architecture (training/models/zoo.py)")
    p.add_argument("--prerank", default=zoo.DEFAULT_PRERANK, choices=sorted(zoo.PRERANKERS),
                   help="pre-ranking architecture, distilled from the ranker (training/models/zoo.py)")
    p.add_argument("--fit-fusion", action="store_true",
                   help="fit the popularity half-life and head-fusion weights on a validation split first")
    p.add_argument("--serving", action="store_true",
                   help="publish versions trained on every row, the test window included (no test metrics)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    if args.data is not None:
        from training.importers import BadInput
        from training.importers.prepared import prepare
        try:
            prepared = prepare(args.data, args.data_root, args.preset, args.skip_bad_rows,
                               say=lambda m: print(m, file=sys.stderr))
        except BadInput as err:
            p.error(f"--data: {err}")
        args.world = prepared.world_dir
        args.registry = args.registry or prepared.registry
    args.registry = args.registry or Path("models")
    if not (args.world / "world.json").exists():
        p.error(f"--world {args.world}: no world here (run `python -m training.world`)")
    if args.epochs < 1:
        p.error("--epochs must be >= 1")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under torchrun: data-parallel over gloo (CPU)
        import torch.distributed as dist
        dist.init_process_group("gloo")
        rank, size = dist.get_rank(), dist.get_world_size()
        print(f"data-parallel training: process {rank} of {size}", file=sys.stderr)
        try:
            if rank == 0:
                versions = run(args.world, args.registry, args.epochs, args.seed, args.fit_fusion,
                               args.ranker, args.prerank, args.serving)
            else:  # identical models (same seed, averaged gradients): only process 0 publishes
                with tempfile.TemporaryDirectory() as scratch:
                    run(args.world, Path(scratch), args.epochs, args.seed, args.fit_fusion, args.ranker,
                        args.prerank, args.serving)
                return 0
        finally:
            dist.destroy_process_group()
    else:
        versions = run(args.world, args.registry, args.epochs, args.seed, args.fit_fusion, args.ranker,
                       args.prerank, args.serving)
    print(f"published: {versions}", file=sys.stderr)
    from training.importers.prepared import cpu_s, peak_rss_mb
    print(f"{'import + ' if args.data else ''}training took {time.perf_counter() - started:.0f} s "
          f"({cpu_s():.0f} CPU s); peak memory {peak_rss_mb()} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
