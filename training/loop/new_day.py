"""What a new simulated day brings the live stack: the world's clock and its uploads.

The loop's days are minutes of wall time, the world's are days: before each day the stack's
catalog clock (wall time - `world_offset_ms` in the meta hash, re-read by every service within
`CatalogClock.refresh_s`) is moved to the world's time, so item ages, the fresh channel's window
and the ranker's age feature agree with the ages the world's users feel. Then the day's new
videos are drawn by the world (`World.publish`) and published through the catalog API, as a
creator's upload would be: the system learns of them only from there.
"""
from __future__ import annotations

import time

import numpy as np

from core.store.keys import Keys
from training.world import World

# Every service re-reads the offset at most this long after it changed (CatalogClock.refresh_s).
CLOCK_REFRESH_S = 30.0


def set_catalog_clock(client, keys: Keys, catalog_now_ms: int, wall_ms: int | None = None) -> int:
    """Make the catalog clock read `catalog_now_ms` at wall time `wall_ms` (now); returns the
    offset stored (wall - catalog)."""
    wall = int(time.time() * 1000) if wall_ms is None else int(wall_ms)
    offset = wall - int(catalog_now_ms)
    client.hset(keys.meta(), "world_offset_ms", offset)
    return offset


def publish_uploads(address: str, world: World, n: int, publish_ms: int, rng: np.random.Generator,
                    timeout_s: float = 10.0) -> list[int]:
    """Draw `n` new videos in the world and publish them through the gateway's catalog API at
    `publish_ms` (catalog time); returns their ids."""
    import grpc
    from recsys.v1 import catalog_pb2, catalog_pb2_grpc
    new = world.publish(n, publish_ms, rng)
    with grpc.insecure_channel(address) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        for j in range(n):
            request = catalog_pb2.PublishItemRequest(
                item_id=int(new["item_id"][j]), author_id=int(new["author_id"][j]),
                category=int(new["category"][j]), duration_s=float(new["duration_s"][j]),
                publish_ms=int(publish_ms), region=int(new["region"][j]),
                tags=[f"t{int(t)}" for t in new["tags"][j]])
            deadline = time.monotonic() + 60
            while True:
                try:
                    stub.PublishItem(request, timeout=timeout_s)
                    break
                except grpc.RpcError as err:  # the gateway's publish rate limit: wait as a client should
                    if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                        raise
                    time.sleep(0.25)
    return new["item_id"].tolist()
