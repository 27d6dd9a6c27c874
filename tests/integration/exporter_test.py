"""The exporter against a real Redis: everything acknowledged is exported exactly once, even when
the exporter dies between writing a batch and acknowledging it; trimming never drops what was not
exported."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from core.feedback import EventData, EventKind
from core.items import ItemTable
from core.store.events import EventWriter
from core.store.impressions import Impression, ImpressionLog
from core.store.keys import Keys
from core.versioned import Versioned

pytest.importorskip("pyarrow", reason="the loop extra is not installed (pip install -e '.[loop]')")
from training.loop.exporter import Exporter, read_exported  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _items() -> ItemTable:
    n = 20
    return ItemTable.from_columns(item_id=np.arange(1, n + 1), author_id=np.arange(1, n + 1) % 3 + 1,
                                  category=np.ones(n), duration_s=np.full(n, 10.0), publish_ms=np.zeros(n),
                                  region=np.ones(n), log_pop=np.zeros(n))


def produce(url: str, keys: Keys, n: int, start: int = 0) -> None:
    """n events and n impressions (of 3 items each), through the real writers."""
    async def go():
        client = aioredis.Redis.from_url(url)
        writer = EventWriter(client, keys, Versioned.fixed(_items()))
        for lo in range(start, start + n, 7):
            await writer.write([EventData(f"e{i}", 1 + i % 4, 1 + i % 20, EventKind.VIEW, 4000, 0, 0)
                                for i in range(lo, min(lo + 7, start + n))])
        log = ImpressionLog(client, keys)
        for i in range(start, start + n):
            await log.write(Impression(request_id=f"r{i}", user_id=1 + i % 4, ts_ms=1000 + i, item_ids=[1, 2, 3],
                                       models={"ranker": "v0001"}))
        await client.aclose()
    asyncio.run(go())


def event_ids(out) -> list[str]:
    table, _ = read_exported(out, "events")
    return table.column("event_id").to_pylist()


def test_drain_exports_everything_once_and_trims(redis_url, keys, tmp_path):
    produce(redis_url, keys, 50)
    client = sync_redis.Redis.from_url(redis_url)
    exporter = Exporter(client, keys, tmp_path, batch=8)
    assert exporter.drain() == {"events": 50, "impressions": 150}
    assert sorted(event_ids(tmp_path)) == sorted(f"e{i}" for i in range(50))
    imps, dropped = read_exported(tmp_path, "impressions")
    assert imps.num_rows == 150 and dropped == 0
    assert set(imps.column("request_id").to_pylist()) == {f"r{i}" for i in range(50)}
    assert client.xlen(keys.events_stream()) == 0 and client.xlen(keys.impressions_stream()) == 0
    assert exporter.update_lag() == {"events": 0, "impressions": 0}
    files = list(tmp_path.glob("events/day=*/hour=*/part-*.parquet"))
    assert files and not list(tmp_path.rglob("*.tmp"))


def test_trim_keeps_what_is_not_exported(redis_url, keys, tmp_path):
    produce(redis_url, keys, 30)
    client = sync_redis.Redis.from_url(redis_url)
    exporter = Exporter(client, keys, tmp_path, batch=10, streams=("events",))
    exporter.export_batch("events")
    assert client.xlen(keys.events_stream()) == 20  # the 10 exported are gone, nothing else
    produce(redis_url, keys, 5, start=100)
    assert exporter.update_lag()["events"] == 25
    exporter.drain()
    assert len(event_ids(tmp_path)) == 35 and client.xlen(keys.events_stream()) == 0


def test_crash_between_write_and_ack_never_duplicates(redis_url, keys, tmp_path):
    produce(redis_url, keys, 40)
    client = sync_redis.Redis.from_url(redis_url)
    calls = []

    def crash_on_third(stream, ids):
        calls.append(ids)
        if len(calls) == 3:
            raise RuntimeError("killed after writing, before acknowledging")

    with pytest.raises(RuntimeError):
        Exporter(client, keys, tmp_path, batch=6, streams=("events",), on_written=crash_on_third).drain()
    assert client.xlen(keys.events_stream()) == 40 - 12  # two batches acknowledged and trimmed
    Exporter(client, keys, tmp_path, batch=6, streams=("events",)).drain()
    ids = event_ids(tmp_path)
    table, dropped = read_exported(tmp_path, "events")
    assert sorted(ids) == sorted(f"e{i}" for i in range(40)) and dropped == 0  # the batch was rewritten in place


KILLER = textwrap.dedent("""
    import os, signal, sys
    import redis
    from core.store.keys import Keys
    from training.loop.exporter import Exporter
    url, prefix, out = sys.argv[1:4]
    n = [0]
    def kill(stream, ids):
        n[0] += 1
        if n[0] == 3:  # events, impressions, then the second events batch
            os.kill(os.getpid(), signal.SIGKILL)  # written, never acknowledged
    Exporter(redis.Redis.from_url(url), Keys(prefix), out, batch=9, on_written=kill).drain()
""")


def test_sigkill_mid_batch_then_restart_with_another_batch_size(redis_url, keys, tmp_path):
    produce(redis_url, keys, 60)
    proc = subprocess.run([sys.executable, "-c", KILLER, redis_url, keys.prefix, str(tmp_path)], cwd=ROOT,
                          env=os.environ | {"PYTHONPATH": f"{ROOT}:{ROOT / 'protos'}"}, timeout=120)
    assert proc.returncode == -9
    client = sync_redis.Redis.from_url(redis_url)
    # A different batch size re-reads the pending batch with other boundaries: its rows get
    # written twice, and readers drop the repeats by stream id.
    Exporter(client, keys, tmp_path, batch=4).drain()
    table, dropped = read_exported(tmp_path, "events")
    assert sorted(table.column("event_id").to_pylist()) == sorted(f"e{i}" for i in range(60))
    assert dropped == 9  # exactly the killed batch, counted, not silently kept
    imps, _ = read_exported(tmp_path, "impressions")
    assert imps.num_rows == 180
    assert client.xlen(keys.events_stream()) == 0
