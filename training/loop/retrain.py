"""Retrain the ranker on the system's own logs and put the candidate on canary.

    python -m training.loop.retrain --logs data/logs --registry models [--canary-percent 10]
        [--since-ms ..] [--until-ms ..] [--epochs 2] [--redis-url .. --prefix ..]

1. the dataset job (training/loop/dataset.py, Ray Data) over the impressions logged since the
   live version's data ended (its manifest's `loop.until_ms`; everything for a version built
   elsewhere) up to now, with the live version's item table;
2. warm start from the live version's weights: `weights.npz` (plain arrays, written by this
   module beside every version it publishes) or, for a version trained by `make train`, the
   ONNX initializers themselves — parameters by name, and the few the exporter renamed and
   transposed (MatMul weights) by their unique transposed shape; anything left unmatched starts
   fresh and is named in the manifest (`loop.warm_start`);
3. train on the new rows (a time split keeps the last 10% out to compare with the live model),
   export ONNX with its golden parity sample, publish as a new version that is *not* live;
4. set it as canary at the given share; the gate (training/loop/gate.py) decides later.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from core.items import ItemTable
from core.rank.features import CAT_FEATURES, NUM_FEATURES, SEQ_LEN, clamp_to_vocab
from core.rank.online_items import extend_items
from core.rank.watch import FILE as WATCH_FILE
from core.rank.watch import WatchModel
from core.registry.reader import ModelVersion, Registry
from core.store.catalog_log import CatalogItem
from training.loop.dataset import HEADS, Spec, build, read_shards
from training.loop.watch import refit as refit_watch
from training.metrics import auc
from training.models.ranker import Ranker
from training.publish import manifest_body, publish
from training.train import _export, fit_modules, schema_hash

MODEL = "ranker"
INPUTS = ("cat", "num", "seq_items", "seq_cats")
HOLDOUT = 0.1
BATCH = 512  # rows per training step


@dataclass
class Candidate:
    version: str
    parent: str
    rows: int
    warm_start: dict
    metrics: dict


def ranker_like(mv: ModelVersion, vocab: dict[str, int] | None = None) -> Ranker:
    """A ranker of `mv`'s shape (with `vocab` instead of its vocabulary, when given)."""
    vocab = vocab or mv.manifest["feature_order"]["vocab"]
    return Ranker([int(vocab[f]) for f in CAT_FEATURES], len(NUM_FEATURES), len(HEADS), SEQ_LEN)


def _fit(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """`a` as a tensor of `shape`: as it is, or an embedding table grown by rows (the item
    vocabulary gained the videos published since), the new rows starting as row 0 — the
    unknown code the parent read those videos as. None when it does not fit."""
    if a.shape == shape:
        return a
    if a.ndim == 2 and len(shape) == 2 and a.shape[1] == shape[1] and 0 < a.shape[0] < shape[0]:
        return np.concatenate([a, np.repeat(a[:1], shape[0] - a.shape[0], axis=0)])
    return None


def load_weights(model: torch.nn.Module, mv: ModelVersion) -> dict:
    """Warm start `model` from version `mv`; returns what was loaded from where."""
    state = model.state_dict()
    if "weights.npz" in mv.manifest["files"]:
        with np.load(mv.file("weights.npz"), allow_pickle=False) as w:
            fitted = {k: _fit(w[k], tuple(state[k].shape)) for k in w.files if k in state}
        loaded = {k: torch.from_numpy(np.ascontiguousarray(a)) for k, a in fitted.items() if a is not None}
        source = "weights.npz"
    else:
        import onnx
        from onnx import numpy_helper
        inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(mv.file("model.onnx"))).graph.initializer}
        fitted = {k: _fit(inits[k], tuple(state[k].shape)) for k in state if k in inits}
        loaded = {k: torch.from_numpy(a.copy()) for k, a in fitted.items() if a is not None}
        anonymous = {n: a for n, a in inits.items() if n not in state}
        for k, v in state.items():  # MatMul weights: renamed and stored transposed by the exporter
            if k in loaded or v.dim() != 2:
                continue
            matches = [n for n, a in anonymous.items() if a.shape == tuple(v.shape)[::-1]]
            if len(matches) == 1:
                loaded[k] = torch.from_numpy(anonymous.pop(matches[0]).T.copy())
        source = "model.onnx"
    model.load_state_dict(loaded, strict=False)
    return {"from": f"{mv.name}/{mv.version}/{source}", "loaded": len(loaded),
            "fresh": sorted(set(state) - set(loaded))}


def _predict(model: torch.nn.Module, x: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return model(*(torch.from_numpy(x[k]) for k in INPUTS)).numpy()


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    out = {}
    for h, name in enumerate(HEADS):
        if 0 < y[:, h].sum() < len(y):
            out[f"auc_{name}"] = round(auc(y[:, h], p[:, h]), 4)
    return out


def train_candidate(mv: ModelVersion, shards: dict[str, np.ndarray], epochs: int, seed: int,
                    warm_start: bool = True, shuffle_labels: bool = False, lr: float = 1e-3,
                    vocab: dict[str, int] | None = None):
    """(model, warm-start record, metrics, losses) trained on `shards`; `vocab`: the
    candidate's, when its item table grew (the parent's otherwise)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    vocab = vocab or mv.manifest["feature_order"]["vocab"]
    model = ranker_like(mv, vocab)
    live = ranker_like(mv)
    start = load_weights(model, mv) if warm_start else {"from": "scratch", "loaded": 0, "fresh": []}
    load_weights(live, mv)
    # Codes past a vocabulary read as unknown, as the rank service feeds them.
    shards = shards | clamp_to_vocab({k: shards[k] for k in INPUTS}, vocab)
    order = np.argsort(shards["ts_ms"], kind="stable")
    n = order.size
    cut = int(n * (1 - HOLDOUT))
    train_rows, test_rows = order[:cut], order[cut:]
    x = {k: torch.from_numpy(shards[k]) for k in INPUTS}
    labels = shards["labels"].copy()
    if shuffle_labels:  # a deliberately broken candidate (tests, `make loop`'s bad night)
        labels[train_rows] = labels[rng.permutation(train_rows)]
    y = torch.from_numpy(labels)
    rows = torch.from_numpy(train_rows)

    def loss_of(b, m):  # b indexes the training rows
        r = rows[b]
        return F.binary_cross_entropy(m(*(x[k][r] for k in INPUTS)).clamp(1e-6, 1 - 1e-6), y[r])
    # the offline trainer's loop: Adam, shuffled batches, DDP under torchrun
    losses = [round(v, 4) for v in fit_modules([model], loss_of, train_rows.size, BATCH, epochs,
                                               lr if warm_start else 2e-3, rng, "retrain")]
    test = {k: shards[k][test_rows] for k in INPUTS}
    truth = shards["labels"][test_rows]
    live_test = clamp_to_vocab(test, mv.manifest["feature_order"]["vocab"])  # as the live version reads them
    p_cand, p_live = _predict(model, test), _predict(live, live_test)
    metrics = {f"holdout_{k}": v for k, v in _metrics(truth, p_cand).items()}
    metrics |= {f"holdout_live_{k}": v for k, v in _metrics(truth, p_live).items()}
    weights = np.array([mv.manifest.get("fusion_weights", {}).get(h, 0.0) for h in HEADS], np.float32)
    metrics["holdout_fused_std"] = round(float((p_cand @ weights).std()), 6)
    metrics["holdout_live_fused_std"] = round(float((p_live @ weights).std()), 6)
    return model, start, metrics, losses


def prior_weight(mv: ModelVersion, metrics: dict, key: str = "recall_prior_weight") -> float:
    """The candidate's recall-prior weight (or another manifest weight on the fused score's
    scale, `key`: the watch score's): the parent's, scaled by how the spread of the fused
    head scores changed on the same holdout rows. The weight was fitted against the parent's
    score scale; a candidate trained on the system's own logs is calibrated to their base rates
    (a like rate several times lower than the legacy log's), so its fused scores spread less,
    and the unchanged weight would let the recall order outvote the model (measured: like
    scores fell from ~0.17 to ~0.01 after one night, and the feeds followed the recall order)."""
    parent = float(mv.manifest.get(key, 0.0))
    cand, live = metrics.get("holdout_fused_std", 0.0), metrics.get("holdout_live_fused_std", 0.0)
    if not parent or not cand or not live:
        return parent
    return round(parent * cand / live, 6)


def publish_candidate(registry_root: Path, mv: ModelVersion, model: torch.nn.Module, shards: dict[str, np.ndarray],
                      loop_doc: dict, metrics: dict, losses: list[float], items: Path | None = None,
                      vocab: dict[str, int] | None = None, watch: WatchModel | None = None) -> str:
    """`watch`: a refit watch model to ship instead of the parent's (training/loop/watch.py)."""
    golden = {k: shards[k][:64] for k in INPUTS}
    golden["expected"] = _predict(model, golden)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        np.savez(tmp / "golden.npz", **golden)
        np.savez(tmp / "weights.npz", **{k: v.detach().numpy() for k, v in model.state_dict().items()})
        _export(model, tuple(torch.from_numpy(golden[k][:2]) for k in INPUTS), list(INPUTS), ["heads"],
                tmp / "model.onnx")
        body = manifest_body(mv.manifest) | {"metrics": metrics, "train_loss": losses, "loop": loop_doc,
                                             "data_range": {"start_ms": loop_doc["since_ms"],
                                                            "end_ms": loop_doc["until_ms"]}}
        if "recall_prior_weight" in body:
            # The deliberately broken candidate is served on its own scores: with the recall
            # prior, a model that learned nothing orders like the recall order, which can be as
            # good as the live ranker (measured on the test world's second day: watch time
            # +0.63 s [+0.10, +1.16] over live) and leaves the gate nothing to catch.
            body["recall_prior_weight"] = 0.0 if loop_doc.get("shuffled_labels") else prior_weight(mv, metrics)
        watch_file = {}
        if watch is not None:
            body["watch"] = watch.save(tmp)
            watch_file = {WATCH_FILE: tmp / WATCH_FILE}
        elif WATCH_FILE in mv.manifest.get("files", {}):
            watch_file = {WATCH_FILE: mv.file(WATCH_FILE)}
        if "watch_weight" in body:
            # The watch model (core/rank/watch.py, refit or the parent's): its weight scales
            # like the prior's, and the broken candidate gets none, for the same reason.
            body["watch_weight"] = (0.0 if loop_doc.get("shuffled_labels")
                                    else prior_weight(mv, metrics, "watch_weight"))
        if vocab:
            body["feature_order"] = {**body["feature_order"], "vocab": dict(vocab)}
            body["feature_schema_hash"] = schema_hash(body["feature_order"])
        return publish(registry_root, MODEL, {"model.onnx": tmp / "model.onnx",
                                              "items.npz": items or mv.file("items.npz"),
                                              "golden.npz": tmp / "golden.npz",
                                              "weights.npz": tmp / "weights.npz", **watch_file},
                       body, make_live=False)


def retrain(registry_root: Path, logs: str, canary_percent: float = 10.0, since_ms: int | None = None,
            until_ms: int | None = None, clock_offset_ms: int = 0, epochs: int = 2, seed: int = 7,
            warm_start: bool = True, shuffle_labels: bool = False, work: Path | None = None,
            num_cpus: int | None = None, min_rows: int = 200,
            clock_changes: tuple[tuple[int, int], ...] = (),
            online_items: list[CatalogItem] | None = None,
            watch_history: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None) -> Candidate | None:
    """Train and canary a candidate; None when there is too little new data (nothing changes).
    `online_items`: the videos published through the catalog API (`catalog_items`), assembled
    with their features as the rank service assembles them (core/rank/online_items.py).
    `watch_history`: (user ids, item ids, watched ms, catalog ms) the parent's watch model learned from;
    given, and where the parent ships one, the candidate's is refit on it plus the logged views
    (training/loop/watch.py)."""
    registry = Registry(registry_root)
    mv = registry.open(MODEL, registry.live_version(MODEL))
    since = since_ms if since_ms is not None else int(mv.manifest.get("loop", {}).get("until_ms", 0))
    until = until_ms if until_ms is not None else int(time.time() * 1000)
    with tempfile.TemporaryDirectory() as tmp_name:
        out = Path(work or tmp_name) / f"shards-{since}-{until}"
        # The candidate's item table: the parent's plus the videos published online since, so
        # it learns them by id from today's logs (the item embedding grows; _fit).
        items, vocab = Path(mv.file("items.npz")), dict(mv.manifest["feature_order"]["vocab"])
        grown = extend_items(ItemTable.load(items), online_items or [])
        if len(grown) > len(ItemTable.load(items)):
            items = Path(work or tmp_name) / f"items-{since}-{until}.npz"
            grown.save(items)
            vocab["item"] = len(grown) + 1
        spec = Spec(logs, str(items), since, until, clock_offset_ms, clock_changes=tuple(clock_changes))
        n = build(spec, str(out), num_cpus)
        if n < min_rows:
            print(f"retrain: {n} rows since {since}: fewer than {min_rows}, no candidate", file=sys.stderr)
            return None
        shards = read_shards(out)
        shards |= clamp_to_vocab({k: shards[k] for k in INPUTS}, vocab)
        model, start, metrics, losses = train_candidate(mv, shards, epochs, seed, warm_start, shuffle_labels,
                                                        vocab=vocab)
        loop_doc = {"parent": mv.version, "since_ms": since, "until_ms": until, "rows": int(n),
                    "warm_start": start, "shuffled_labels": shuffle_labels, "epochs": epochs,
                    "items": len(grown)}
        watch = None
        if watch_history is not None and WATCH_FILE in mv.manifest.get("files", {}):
            watch = refit_watch(watch_history, logs, grown, seed, spec)
            loop_doc["watch_refit"] = watch is not None
        version = publish_candidate(registry_root, mv, model, shards, loop_doc, metrics, losses, items, vocab,
                                    watch)
    registry.set_canary(MODEL, version, canary_percent)
    print(f"retrain: {MODEL}/{version} from {n} rows (warm start: {start['from']}, "
          f"{start['loaded']} tensors) on canary at {canary_percent}%: {metrics}", file=sys.stderr)
    return Candidate(version, mv.version, int(n), start, metrics)


def catalog_items(redis_url: str, prefix: str) -> list[CatalogItem]:
    """The videos published through the catalog API (the `{catalog}:items` hash)."""
    import redis

    from core.store.keys import Keys
    client = redis.Redis.from_url(redis_url)
    try:
        return [CatalogItem.decode(int(i), v) for i, v in client.hgetall(Keys(prefix).catalog_items()).items()]
    finally:
        client.close()


def clock_offset(redis_url: str, prefix: str) -> int:
    """wall - catalog time, as the state loader stored it (0 for a live catalog)."""
    import redis

    from core.store.keys import Keys
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.hget(Keys(prefix).meta(), "world_offset_ms") or 0)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.loop.retrain", description=__doc__.split("\n")[0])
    p.add_argument("--logs", default=os.environ.get("EXPORT_URI", "data/logs"))
    p.add_argument("--registry", type=Path, default=Path(os.environ.get("REGISTRY_DIR", "models")))
    p.add_argument("--canary-percent", type=float, default=10.0)
    p.add_argument("--since-ms", type=int, default=None)
    p.add_argument("--until-ms", type=int, default=None)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--from-scratch", action="store_true", help="no warm start")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""),
                   help="read the catalog clock offset from here (synthetic worlds)")
    p.add_argument("--prefix", default=os.environ.get("REDIS_PREFIX", "recsys"))
    args = p.parse_args(argv)
    if not 0 < args.canary_percent <= 100:
        p.error(f"--canary-percent must be in (0, 100], got {args.canary_percent}")
    if args.epochs < 1:
        p.error("--epochs must be >= 1")
    offset = clock_offset(args.redis_url, args.prefix) if args.redis_url else 0
    online = catalog_items(args.redis_url, args.prefix) if args.redis_url else None
    candidate = retrain(args.registry, args.logs, args.canary_percent, args.since_ms, args.until_ms, offset,
                        args.epochs, args.seed, warm_start=not args.from_scratch, online_items=online)
    print(candidate, file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
