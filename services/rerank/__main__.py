"""Rerank service entry point: `python -m services.rerank` (settings from RERANK_* env)."""
from __future__ import annotations

import asyncio

import numpy as np
from recsys.v1 import rerank_pb2, rerank_pb2_grpc

from services.common import logging as rlog
from services.common.items import ItemTable
from services.common.registry import Registry
from services.common.server import Registration, run_server
from services.rerank.policies import build_policies
from services.rerank.servicer import ItemSide, RerankServicer
from services.rerank.settings import RerankSettings


async def main() -> None:
    settings = RerankSettings()
    rlog.configure("rerank", settings.log_level)
    # Item embeddings for diversity come from the live two-tower version.
    mv = Registry(settings.registry_dir).open("two_tower")
    item_side = ItemSide(ItemTable.load(mv.file("items.npz")),
                         np.load(mv.file("item_vectors.npy"), allow_pickle=False))
    servicer = RerankServicer(build_policies(settings.policies), item_side)
    await run_server("rerank", settings, [Registration(
        rerank_pb2_grpc.add_RerankServiceServicer_to_server, servicer,
        rerank_pb2.DESCRIPTOR.services_by_name["RerankService"].full_name)])


if __name__ == "__main__":
    asyncio.run(main())
