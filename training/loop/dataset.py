"""The dataset job: logged impressions + the events that followed them -> ranker training shards.

    python -m training.loop.dataset --logs data/logs --items models/ranker/v0001/items.npz \
        --out data/shards/2026-01-02 [--start-ms ..] [--end-ms ..] [--clock-offset-ms ..]

Runs on Ray Data: `ray.init()` starts a local Ray in this process by default (nothing to
install beyond pip); with RAY_ADDRESS set (a KubeRay RayJob sets it) the same code runs on the
cluster. Steps:

1. read the exported impressions in [start, end) and every event before end + the longest
   label window (hive-partitioned Parquet, any pyarrow URI), project both to one schema;
2. group by user (one shuffle): within a user, drop rows repeated by an exporter replay
   (same stream id), then for every impression, point in time:
   * labels from the user's events on that item at or after the impression and within the
     head's window (`WINDOWS_MS`), attributed to the latest impression of the item before the
     event (an item shown twice earns its label once, on the showing that caused it);
   * the behaviour sequence rebuilt from the user's engaged events strictly before the
     impression, as the event writer builds it in Redis (most recent first, unique, capped);
   * the request's user-side features as they were served (region, device, hour, profile,
     follows the author), logged with the impression;
   * item features from the item table of the version that served (built before it served);
3. assemble the model inputs with `core.rank.features.assemble` — the one feature code the
   rank service runs — and write Parquet shards.

Nothing from after an impression reaches its row except its own labels, within their windows
(tested in training/loop/dataset_test.py).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.feedback import EventKind, is_engaged
from core.items import ItemTable
from core.rank.features import CAT_FEATURES, NUM_FEATURES, SEQ_LEN, UserRows, assemble, pad_sequence
from core.store.keys import SEQ_CAP

# The ranker's heads for the synthetic world, in training/data.py's order ("engaged": the
# one definition of engagement, core/feedback.py).
HEADS = ("engaged", "like", "complete", "share", "follow")
COMPLETE_FRACTION = 0.9
MINUTE_MS = 60_000
# How long after an impression an event still counts as its outcome, per head.
WINDOWS_MS = {"engaged": 30 * MINUTE_MS, "like": 30 * MINUTE_MS, "complete": 30 * MINUTE_MS, "share": 30 * MINUTE_MS,
              "follow": 60 * MINUTE_MS}
IMP, EVT = 0, 1
# One schema for both streams, so they can be unioned and grouped by user.
COLUMNS = {"kind": "int8", "user_id": "int64", "item_id": "int64", "ts_ms": "int64", "stream_id": "object",
           "position": "int32", "type": "int32", "watch_ms": "int64", "request_id": "object",
           "experiment": "object", "ranker_version": "object", "region": "int32", "device": "int32",
           "local_hour": "int32", "age_bucket": "int32", "gender": "int32", "follows_author": "int8"}


def _output_schema():
    import pyarrow as pa
    return pa.schema([("user_id", pa.int64()), ("item_id", pa.int64()), ("ts_ms", pa.int64()),
                      ("request_id", pa.string()), ("position", pa.int32()), ("experiment", pa.string()),
                      ("ranker_version", pa.string())] + [(h, pa.float32()) for h in HEADS]
                     + [("cat", pa.list_(pa.int64())), ("num", pa.list_(pa.float32())),
                        ("seq_items", pa.list_(pa.int64())), ("seq_cats", pa.list_(pa.int64()))])


@dataclass(frozen=True)
class Spec:
    logs: str                       # the exporter's output root (folder or URI)
    items: str                      # items.npz of the serving ranker version
    start_ms: int = 0               # impressions in [start_ms, end_ms), wall clock
    end_ms: int = 2**62
    clock_offset_ms: int = 0        # wall clock - catalog clock (a synthetic world's shift)
    windows_ms: dict[str, int] = field(default_factory=lambda: dict(WINDOWS_MS))
    # Where the offset changed (the loop moves a synthetic world's clock a day each night):
    # (wall ms from which it holds, offset), ascending; before the first, clock_offset_ms.
    clock_changes: tuple[tuple[int, int], ...] = ()

    def offsets_at(self, wall_ms: np.ndarray) -> np.ndarray:
        """The wall - catalog offset in force at each wall time."""
        if not self.clock_changes:
            return np.full(np.shape(wall_ms), self.clock_offset_ms, dtype=np.int64)
        starts = np.array([s for s, _ in self.clock_changes], dtype=np.int64)
        values = np.array([self.clock_offset_ms] + [o for _, o in self.clock_changes], dtype=np.int64)
        return values[np.searchsorted(starts, wall_ms, side="right")]


@functools.lru_cache(maxsize=4)
def _items(path: str) -> ItemTable:
    return ItemTable.load(Path(path))


def to_common(batch: pd.DataFrame, kind: int) -> pd.DataFrame:
    """Either stream's rows in the common schema (missing columns get neutral values)."""
    n = len(batch)
    out = {}
    for col, dtype in COLUMNS.items():
        if col == "kind":
            out[col] = np.full(n, kind, dtype=dtype)
        elif col in batch:
            out[col] = batch[col].to_numpy().astype(dtype) if dtype != "object" else batch[col].astype(str).to_numpy()
        else:
            out[col] = np.full(n, "" if dtype == "object" else (-1 if col == "local_hour" else 0), dtype=dtype)
    return pd.DataFrame(out)


def _dedupe(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop_duplicates(subset=["kind", "stream_id", "position"], keep="first")


def user_rows(group: pd.DataFrame, spec: Spec):
    """Training rows of one user's impressions (everything of one user in `group`), as an
    Arrow table of one fixed schema (a user without impressions in the window gives none)."""
    import pyarrow as pa
    rows, schema = _user_rows(group, spec), _output_schema()
    return pa.Table.from_pandas(rows, schema=schema, preserve_index=False) if len(rows) else schema.empty_table()


def _user_rows(group: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    group = _dedupe(group)
    items = _items(spec.items)
    imps = group[group["kind"] == IMP]
    imps = imps[(imps["ts_ms"] >= spec.start_ms) & (imps["ts_ms"] < spec.end_ms)]
    imps = imps.sort_values(["ts_ms", "position"], kind="stable").reset_index(drop=True)
    evts = group[group["kind"] == EVT].sort_values(["ts_ms", "stream_id"], kind="stable")
    if imps.empty:
        return pd.DataFrame({f.name: [] for f in _output_schema()})
    n = len(imps)
    imp_ts = imps["ts_ms"].to_numpy()
    imp_item = imps["item_id"].to_numpy()

    e_item, e_ts = evts["item_id"].to_numpy(), evts["ts_ms"].to_numpy()
    e_type, e_watch = evts["type"].to_numpy(), evts["watch_ms"].to_numpy()
    e_idx = items.index_of(e_item)
    dur = np.where(e_idx >= 0, items.duration_s[np.maximum(e_idx, 0)], 0.0)

    engaged = np.array([is_engaged(EventKind(int(t)), int(w), float(d) or None)
                        for t, w, d in zip(e_type, e_watch, dur)], dtype=bool)
    # Labels: each outcome goes to the latest showing of its item at or before it, if recent enough.
    labels = np.zeros((n, len(HEADS)), dtype=np.float32)
    head_of = {EventKind.LIKE: "like", EventKind.SHARE: "share", EventKind.FOLLOW: "follow"}
    by_item: dict[int, np.ndarray] = {}
    for row, item in enumerate(imp_item):
        by_item.setdefault(int(item), []).append(row)
    for j in range(e_ts.size):
        rows_of_item = by_item.get(int(e_item[j]))
        if not rows_of_item:
            continue
        kind = EventKind(int(e_type[j]))
        if kind == EventKind.VIEW:
            head = "complete" if dur[j] > 0 and e_watch[j] >= COMPLETE_FRACTION * dur[j] * 1000 else None
        else:
            head = head_of.get(kind)
        earlier = [r for r in rows_of_item if imp_ts[r] <= e_ts[j]]
        if not earlier:
            continue
        for h in ([head] if head else []) + (["engaged"] if engaged[j] else []):
            if e_ts[j] - imp_ts[earlier[-1]] <= spec.windows_ms[h]:
                labels[earlier[-1], HEADS.index(h)] = 1.0

    # Sequences: engaged events strictly before each impression, most recent first, unique.
    eng_ts, eng_item = e_ts[engaged], e_item[engaged]
    n_before = np.searchsorted(eng_ts, imp_ts, side="left")
    seq_idx = np.full((n, SEQ_LEN), -1, dtype=np.int64)
    cache: dict[int, np.ndarray] = {}
    for row, k in enumerate(n_before):
        if k not in cache:
            recent = pd.unique(eng_item[:k][::-1])[:SEQ_CAP]
            cache[k] = pad_sequence(items.index_of(np.asarray(recent, dtype=np.int64)))
        seq_idx[row] = cache[k]

    item_idx = items.index_of(imp_item)
    users = UserRows(
        region=imps["region"].to_numpy(np.int64), age_bucket=imps["age_bucket"].to_numpy(np.int64),
        gender=imps["gender"].to_numpy(np.int64), device=imps["device"].to_numpy(np.int64),
        hour=imps["local_hour"].to_numpy(np.int64), seq_idx=seq_idx,
        follows_author=imps["follows_author"].to_numpy(np.float32),
        now_ms=imp_ts.astype(np.int64) - spec.offsets_at(imp_ts))
    x = assemble(items, item_idx, users)
    out = {c: imps[c].to_numpy() for c in ("user_id", "item_id", "ts_ms", "request_id", "position", "experiment",
                                           "ranker_version")}
    out |= {h: labels[:, i] for i, h in enumerate(HEADS)}
    # Plain lists, not arrays: Ray would store arrays as its own tensor extension type, which
    # a reader without Ray (the trainer) sees only as opaque storage.
    out |= {k: v.tolist() for k, v in x.items()}
    return pd.DataFrame(out)


def init_ray(num_cpus: int | None = None) -> None:
    """Local Ray in this process unless RAY_ADDRESS names a cluster (then join it)."""
    import ray
    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init()
    else:
        ray.init(num_cpus=num_cpus or max(1, (os.cpu_count() or 1) // 2), include_dashboard=False,
                 log_to_driver=False, configure_logging=False)


def build(spec: Spec, out: str, num_cpus: int | None = None) -> int:
    """Run the job; returns the number of training rows written under `out`."""
    import ray.data
    init_ray(num_cpus)
    horizon = spec.end_ms + max(spec.windows_ms.values())
    root = spec.logs.rstrip("/")

    def read(stream: str, kind: int, keep) -> ray.data.Dataset:
        ds = ray.data.read_parquet(f"{root}/{stream}", ignore_missing_paths=True)
        return ds.map_batches(lambda b: to_common(b[keep(b)], kind), batch_format="pandas")

    imps = read("impressions", IMP, lambda b: (b["ts_ms"] >= spec.start_ms) & (b["ts_ms"] < spec.end_ms))
    evts = read("events", EVT, lambda b: b["ts_ms"] < horizon)
    rows = imps.union(evts).groupby("user_id").map_groups(
        user_rows, batch_format="pandas", fn_kwargs={"spec": spec})
    rows.write_parquet(out)
    return count_rows(out)


def count_rows(out: str) -> int:
    """Rows written under `out` (a folder or a pyarrow filesystem URI)."""
    import pyarrow.dataset as pds
    import pyarrow.fs as pafs
    fs, path = pafs.FileSystem.from_uri(out) if "://" in out else (pafs.LocalFileSystem(), str(Path(out).resolve()))
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return 0
    return pds.dataset(path, filesystem=fs, format="parquet").count_rows()


def read_shards(out: str | Path) -> dict[str, np.ndarray]:
    """The shards as arrays: cat/num/seq_items/seq_cats stacked, labels [N, 4], and the row keys."""
    import pyarrow.dataset as pds
    table = pds.dataset(str(out), format="parquet").to_table()
    cols = {}
    for name in ("cat", "num", "seq_items", "seq_cats"):
        col = table.column(name).combine_chunks()
        width = {"cat": len(CAT_FEATURES), "num": len(NUM_FEATURES)}.get(name, SEQ_LEN)
        dtype = np.float32 if name == "num" else np.int64
        cols[name] = col.flatten().to_numpy(zero_copy_only=False).astype(dtype).reshape(-1, width)
    cols["labels"] = np.stack([table.column(h).to_numpy() for h in HEADS], axis=1).astype(np.float32)
    for name in ("user_id", "item_id", "ts_ms"):
        cols[name] = table.column(name).to_numpy()
    return cols


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.loop.dataset", description=__doc__.split("\n")[0])
    p.add_argument("--logs", default=os.environ.get("EXPORT_URI", "data/logs"))
    p.add_argument("--items", default="", help="items.npz of the ranker version that served")
    p.add_argument("--registry", default=os.environ.get("REGISTRY_DIR", ""),
                   help="or: the registry whose live ranker's items to use")
    p.add_argument("--out", required=True)
    p.add_argument("--start-ms", type=int, default=0)
    p.add_argument("--end-ms", type=int, default=2**62)
    p.add_argument("--clock-offset-ms", type=int, default=0)
    p.add_argument("--num-cpus", type=int, default=None)
    args = p.parse_args(argv)
    if not args.items and args.registry:
        from core.registry.reader import Registry
        reg = Registry(args.registry)
        args.items = str(reg.open("ranker", reg.live_version("ranker")).file("items.npz"))
    if not Path(args.items).is_file():
        p.error(f"--items {args.items!r}: no such file (give --items or --registry)")
    n = build(Spec(args.logs, args.items, args.start_ms, args.end_ms, args.clock_offset_ms), args.out,
              args.num_cpus)
    print(f"dataset: {n} rows -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
