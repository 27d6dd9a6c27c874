"""Rerank service entry point: `python -m services.rerank` (settings from RERANK_* env)."""
from __future__ import annotations

import asyncio
import json

import numpy as np
import redis.asyncio as aioredis
from recsys.v1 import rerank_pb2, rerank_pb2_grpc

from core.items import ItemTable
from core.registry.reader import ModelVersion
from core.rerank.candidates import ItemSide
from core.rerank.policies import build_policies
from core.store.clock import CatalogClock
from core.store.keys import Keys
from core.versioned import Versioned
from services.common import logging as rlog
from services.common.server import Registration, run_server
from services.rerank.servicer import RerankServicer
from services.rerank.settings import RerankSettings


def item_side_of(mv: ModelVersion) -> ItemSide:
    return ItemSide(ItemTable.load(mv.file("items.npz")),
                    np.load(mv.file("item_vectors.npy"), allow_pickle=False))


async def main() -> None:
    settings = RerankSettings()
    rlog.configure("rerank", settings.log_level)
    # Item embeddings for diversity come from the live two-tower version, followed like
    # every other service follows its models (a promotion brings new videos' vectors).
    item_side = Versioned.load(settings.registry(), "two_tower", item_side_of)
    policies = build_policies(settings.policies)
    by_experiment = json.loads(settings.experiment_policies)
    unknown = sorted(set(by_experiment.values()) - set(policies))
    if unknown:
        raise ValueError(f"RERANK_EXPERIMENT_POLICIES: unknown policies {unknown}")
    # Redis only tells the catalog's clock (for freshness); rerank works without it.
    client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    servicer = RerankServicer(policies, item_side, CatalogClock(client, Keys(settings.redis_prefix)),
                              by_experiment)

    follow = asyncio.create_task(item_side.follow(settings.alias_poll_s))

    async def stop() -> None:
        follow.cancel()
        await client.aclose()

    async def warmup(channel) -> None:
        items = item_side.value.items
        n = min(50, len(items))
        stub = rerank_pb2_grpc.RerankServiceStub(channel)
        for name in policies:
            await stub.Rerank(rerank_pb2.RerankRequest(
                item_ids=items.item_id[:n].tolist(), scores=np.linspace(1, 0, n).tolist(),
                count=20, policy=name), timeout=10)

    await run_server("rerank", settings, [Registration(
        rerank_pb2_grpc.add_RerankServiceServicer_to_server, servicer,
        rerank_pb2.DESCRIPTOR.services_by_name["RerankService"].full_name)],
        on_stop=stop, warmup=warmup)


if __name__ == "__main__":
    asyncio.run(main())
