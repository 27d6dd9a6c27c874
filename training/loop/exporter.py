"""The exporter: the events and impression streams, copied to Parquet, exactly once.

    python -m training.loop.exporter [--out data/logs | --out s3://bucket/logs] [--once]

A consumer group (`exporter`) reads each stream in batches. A batch becomes one Parquet file
per hour it covers, hive-partitioned by the entries' arrival time (the stream id's clock):

    <out>/<stream>/day=YYYY-MM-DD/hour=HH/part-<first id>_<last id>.parquet

and is acknowledged (XACK) only after its files are durably written (local: written to a
temporary name, fsync'ed, renamed; object stores: a file exists only once its upload closes).
Then the exporter trims the stream itself (XTRIM MINID) up to the oldest entry not yet
acknowledged, so trimming never drops what was not exported; the writers' MAXLEN is only a
safety cap for an exporter that stays down for long.

Exactly once, by two means:
* a restart first re-reads this consumer's pending entries (delivered, never acknowledged) —
  the batch it was writing when it died — with the same batch size, so the batch gets the same
  file names and overwrites whatever half of it was written;
* every row carries its `stream_id`, and readers (`read_exported`, the dataset job) drop
  repeated ids, which also covers a batch size changed between a crash and the restart.
  The number dropped is reported (`duplicates_dropped`), so a replay is visible, not silent.

Prometheus: recsys_exporter_rows_total{stream}, recsys_exporter_lag_entries{stream} (entries
not yet acknowledged: alert when it grows) and recsys_exporter_lag_seconds{stream} (age of
the oldest entry not yet exported).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import redis
from prometheus_client import Counter, Gauge, start_http_server

from core.store.impressions import decode, rows
from core.store.keys import Keys

GROUP = "exporter"
STREAMS = ("events", "impressions")

EVENT_SCHEMA = pa.schema([
    ("stream_id", pa.string()), ("event_id", pa.string()), ("user_id", pa.int64()), ("item_id", pa.int64()),
    ("type", pa.int32()), ("watch_ms", pa.int64()), ("ts_ms", pa.int64()), ("author_id", pa.int64()),
])
IMPRESSION_SCHEMA = pa.schema([
    ("stream_id", pa.string()), ("request_id", pa.string()), ("user_id", pa.int64()), ("ts_ms", pa.int64()),
    ("item_id", pa.int64()), ("position", pa.int32()), ("n_items", pa.int32()), ("experiment", pa.string()),
    ("ranker_version", pa.string()), ("models", pa.string()), ("region", pa.int32()), ("device", pa.int32()),
    ("local_hour", pa.int32()), ("age_bucket", pa.int32()), ("gender", pa.int32()), ("degraded", pa.string()),
    ("recall_pos", pa.int32()), ("rank_pos", pa.int32()), ("follows_author", pa.int8()), ("channels", pa.string()),
    ("recall_score", pa.float32()), ("rank_score", pa.float32()), ("head_scores", pa.string()),
    ("latency_ms", pa.float32()),
])
SCHEMAS = {"events": EVENT_SCHEMA, "impressions": IMPRESSION_SCHEMA}
# The partition columns a hive-partitioned read adds (kept as strings, never reinterpreted).
PARTITIONING = pds.partitioning(pa.schema([("day", pa.string()), ("hour", pa.string())]), flavor="hive")

ROWS = Counter("recsys_exporter_rows_total", "Rows written to Parquet by the exporter.", ["stream"])
LAG_ENTRIES = Gauge("recsys_exporter_lag_entries", "Stream entries not yet exported and acknowledged.", ["stream"])
LAG_SECONDS = Gauge("recsys_exporter_lag_seconds", "Age of the oldest stream entry not yet exported (s).",
                    ["stream"])


def _s(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def event_rows(stream_id: str, fields: dict) -> list[dict]:
    f = {_s(k): _s(v) for k, v in fields.items()}
    return [{"stream_id": stream_id, "event_id": f["event_id"], "user_id": int(f["user_id"]),
             "item_id": int(f["item_id"]), "type": int(f["type"]), "watch_ms": int(f["watch_ms"]),
             "ts_ms": int(f["ts_ms"]), "author_id": int(f.get("author_id") or 0)}]


def impression_rows(stream_id: str, fields: dict) -> list[dict]:
    return [r | {"stream_id": stream_id} for r in rows(decode(fields))]


ROWS_OF: dict[str, Callable[[str, dict], list[dict]]] = {"events": event_rows, "impressions": impression_rows}


def id_ms(stream_id: str) -> int:
    return int(stream_id.split("-", 1)[0])


def partition_of(stream_id: str) -> tuple[str, str]:
    t = datetime.fromtimestamp(id_ms(stream_id) / 1000, UTC)
    return t.strftime("%Y-%m-%d"), t.strftime("%H")


class Sink:
    """Where the Parquet files go: a local folder or any pyarrow filesystem URI."""

    def __init__(self, out: str | Path):
        out = str(out)
        if "://" in out:
            self.fs, self.root = pafs.FileSystem.from_uri(out)
        else:
            self.fs, self.root = pafs.LocalFileSystem(), str(Path(out).resolve())
        self.local = isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def write(self, table: pa.Table, path: str) -> None:
        """Durably: on return the file is complete and survives a crash of this process and
        of the machine (local fsync), or is committed by the object store."""
        if not self.local:
            with self.fs.open_output_stream(path) as f:
                pq.write_table(table, f)
            return
        final = Path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
        with open(tmp, "wb") as f:
            pq.write_table(table, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@dataclass
class Exporter:
    client: redis.Redis
    keys: Keys
    out: str | Path
    batch: int = 5000
    consumer: str = "exporter-0"
    streams: tuple[str, ...] = STREAMS
    # Called after a batch's files are written and before it is acknowledged (fault injection).
    on_written: Callable[[str, list[str]], None] | None = None
    exported: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self.sink = Sink(self.out)
        for stream in self.streams:
            try:
                self.client.xgroup_create(self.key(stream), GROUP, id="0", mkstream=True)
            except redis.ResponseError as err:
                if "BUSYGROUP" not in str(err):
                    raise

    def key(self, stream: str) -> str:
        return self.keys.events_stream() if stream == "events" else self.keys.impressions_stream()

    def _read(self, stream: str, start: str) -> list[tuple[str, dict | None]]:
        reply = self.client.xreadgroup(GROUP, self.consumer, {self.key(stream): start}, count=self.batch)
        return [(_s(i), f) for i, f in reply[0][1]] if reply else []

    def export_batch(self, stream: str) -> int:
        """Export one batch (this consumer's pending entries first); returns entries handled."""
        entries = self._read(stream, "0") or self._read(stream, ">")
        if not entries:
            return 0
        ids = [i for i, _ in entries]
        parts: dict[tuple[str, str], list[dict]] = {}
        for sid, fields in entries:
            if fields:  # None: trimmed away while pending (only a safety-cap trim does that)
                parts.setdefault(partition_of(sid), []).extend(ROWS_OF[stream](sid, fields))
        name = f"part-{ids[0]}_{ids[-1]}.parquet"
        n_rows = 0
        for (day, hour), batch_rows in sorted(parts.items()):
            table = pa.Table.from_pylist(batch_rows, schema=SCHEMAS[stream])
            self.sink.write(table, self.sink.path(stream, f"day={day}", f"hour={hour}", name))
            n_rows += table.num_rows
        if self.on_written is not None:
            self.on_written(stream, ids)
        self.client.xack(self.key(stream), GROUP, *ids)
        ROWS.labels(stream).inc(n_rows)
        self.exported[stream] = self.exported.get(stream, 0) + n_rows
        self.trim(stream)
        return len(ids)

    def _oldest_unacked(self, stream: str) -> str | None:
        """The id below which every entry is exported and acknowledged (None: nothing yet)."""
        key = self.key(stream)
        group = next((g for g in self.client.xinfo_groups(key) if _s(g["name"]) == GROUP), None)
        if group is None:
            return None
        if int(group["pending"]):
            return _s(self.client.xpending(key, GROUP)["min"])
        last = _s(group["last-delivered-id"])
        ms, seq = (int(x) for x in last.split("-"))
        return f"{ms}-{seq + 1}" if (ms, seq) != (0, 0) else None

    def trim(self, stream: str) -> int:
        """Drop what is exported and acknowledged, nothing else (exact MINID)."""
        minid = self._oldest_unacked(stream)
        return int(self.client.xtrim(self.key(stream), minid=minid, approximate=False)) if minid else 0

    def update_lag(self) -> dict[str, int]:
        out = {}
        for stream in self.streams:
            key = self.key(stream)
            group = next((g for g in self.client.xinfo_groups(key) if _s(g["name"]) == GROUP), None)
            pending = int(group["pending"]) if group else 0
            lag = group.get("lag") if group else None
            waiting = int(lag) if lag is not None else int(self.client.xlen(key))
            out[stream] = pending + waiting
            LAG_ENTRIES.labels(stream).set(out[stream])
            oldest = self.client.xrange(key, count=1)  # after trimming: the oldest not exported
            LAG_SECONDS.labels(stream).set(max(0.0, time.time() - id_ms(_s(oldest[0][0])) / 1000)
                                           if oldest and out[stream] else 0.0)
        return out

    def drain(self) -> dict[str, int]:
        """Export until both streams are empty of new and pending entries; rows per stream."""
        while sum(self.export_batch(s) for s in self.streams):
            pass
        self.update_lag()
        return dict(self.exported)

    def run_forever(self, interval_s: float) -> None:
        while True:
            if not sum(self.export_batch(s) for s in self.streams):
                self.update_lag()
                time.sleep(interval_s)


def read_exported(out: str | Path, stream: str, columns: list[str] | None = None) -> tuple[pa.Table, int]:
    """Every exported row of a stream, each stream id once; (table, duplicates dropped)."""
    sink = Sink(out)
    base = sink.path(stream)
    info = sink.fs.get_file_info(base)
    schema = SCHEMAS[stream]
    if info.type == pafs.FileType.NotFound:
        return schema.empty_table(), 0
    data = pds.dataset(base, filesystem=sink.fs, format="parquet", partitioning=PARTITIONING,
                       exclude_invalid_files=False)
    table = data.to_table(columns=columns)
    return dedupe(table)


def dedupe(table: pa.Table, key: str = "stream_id") -> tuple[pa.Table, int]:
    """Drop rows whose (stream id, position) was seen already: the first copy wins."""
    if table.num_rows == 0:
        return table, 0
    cols = [key] + (["position"] if "position" in table.column_names else [])
    indexed = table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    first = indexed.group_by(cols, use_threads=False).aggregate([("__row", "min")])["__row_min"]
    kept = table.take(pc.take(first, pc.sort_indices(first)))
    return kept, table.num_rows - kept.num_rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.loop.exporter", description=__doc__.split("\n")[0])
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--prefix", default=os.environ.get("REDIS_PREFIX", "recsys"))
    p.add_argument("--out", default=os.environ.get("EXPORT_URI", "data/logs"),
                   help="local folder or pyarrow filesystem URI (s3://, gs://, hdfs://, file://)")
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--interval-s", type=float, default=1.0)
    p.add_argument("--consumer", default=os.environ.get("EXPORTER_CONSUMER", "exporter-0"))
    p.add_argument("--metrics-port", type=int, default=int(os.environ.get("METRICS_PORT", "0")))
    p.add_argument("--once", action="store_true", help="export everything there is, then exit")
    args = p.parse_args(argv)
    if args.batch < 1:
        p.error("--batch must be >= 1")
    if args.metrics_port:
        start_http_server(args.metrics_port)
    exporter = Exporter(redis.Redis.from_url(args.redis_url), Keys(args.prefix), args.out, args.batch,
                        args.consumer)
    if args.once:
        print(exporter.drain(), file=sys.stderr)
        return 0
    exporter.run_forever(args.interval_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
