"""Rank service entry point: `python -m services.rank` (settings from RANK_* env)."""
from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from recsys.v1 import common_pb2, rank_pb2, rank_pb2_grpc

from services.common import logging as rlog
from services.common.clock import CatalogClock
from services.common.keys import Keys
from services.common.registry import Registry
from services.common.server import Registration, run_server
from services.rank.model_store import RankerStore
from services.rank.servicer import RankServicer
from services.rank.settings import RankSettings


async def main() -> None:
    settings = RankSettings()
    log = rlog.configure("rank", settings.log_level)
    client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=1.0,
                                     socket_connect_timeout=1.0)
    store = RankerStore(Registry(settings.registry_dir), settings.onnx_threads)
    log.info("model loaded", extra={"model": "ranker", "version": store.live.version})
    servicer = RankServicer(store, CatalogClock(client, Keys(settings.redis_prefix)),
                            settings.max_candidates)
    await run_server("rank", settings, [Registration(
        rank_pb2_grpc.add_RankServiceServicer_to_server, servicer,
        rank_pb2.DESCRIPTOR.services_by_name["RankService"].full_name)],
        on_stop=client.aclose, warmup=lambda ch: warmup(ch, store))


async def warmup(channel, store: RankerStore) -> None:
    items = store.live.items.item_id[:200].tolist()
    await rank_pb2_grpc.RankServiceStub(channel).Rank(rank_pb2.RankRequest(
        user=common_pb2.UserContext(user_id=1), item_ids=items, top_k=50), timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
