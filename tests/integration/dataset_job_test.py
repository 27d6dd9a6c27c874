"""The dataset job on Ray Data (local mode, one CPU) over what the exporter wrote from a real Redis."""
from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from core.feedback import EventData, EventKind
from core.items import ItemTable
from core.store.events import EventWriter
from core.store.impressions import Impression, ImpressionLog
from core.versioned import Versioned

pytest.importorskip("ray", reason="the loop extra is not installed (pip install -e '.[loop]')")
from training.loop.dataset import HEADS, Spec, build, read_shards  # noqa: E402
from training.loop.exporter import Exporter  # noqa: E402


def test_job_joins_impressions_with_their_outcomes(redis_url, keys, tmp_path):
    n = 12
    items = ItemTable.from_columns(item_id=np.arange(1, n + 1), author_id=np.arange(1, n + 1),
                                   category=np.arange(1, n + 1) % 4 + 1, duration_s=np.full(n, 10.0),
                                   publish_ms=np.zeros(n), region=np.ones(n), log_pop=np.zeros(n))
    items.save(tmp_path / "items.npz")

    async def traffic():
        client = aioredis.Redis.from_url(redis_url)
        log, writer = ImpressionLog(client, keys), EventWriter(client, keys, Versioned.fixed(items))
        for user in (1, 2, 3):
            now = int(time.time() * 1000)
            await log.write(Impression(f"r{user}", user, now, [1, 2, 3], models={"ranker": "v0001"}))
            await asyncio.sleep(0.01)
            await writer.write([EventData(f"u{user}-like", user, user, EventKind.LIKE, 0, 0, 0),
                                EventData(f"u{user}-view", user, 3, EventKind.VIEW, 9900, 0, 0)])
            await asyncio.sleep(0.01)
        await client.aclose()
    asyncio.run(traffic())
    Exporter(sync_redis.Redis.from_url(redis_url), keys, tmp_path / "logs", batch=4).drain()
    rows = build(Spec(str(tmp_path / "logs"), str(tmp_path / "items.npz")), str(tmp_path / "shards"), num_cpus=1)
    assert rows == 9
    shards = read_shards(tmp_path / "shards")
    like, complete = shards["labels"][:, HEADS.index("like")], shards["labels"][:, HEADS.index("complete")]
    liked = {(int(u), int(i)) for u, i, y in zip(shards["user_id"], shards["item_id"], like) if y}
    assert liked == {(1, 1), (2, 2), (3, 3)}
    completed = {int(i) for i, y in zip(shards["item_id"], complete) if y}
    assert completed == {3}
    assert shards["cat"].shape == (9, 10) and shards["seq_items"].shape == (9, 30)
    assert not shards["seq_items"].any()  # every user's first feed: nothing engaged before it
