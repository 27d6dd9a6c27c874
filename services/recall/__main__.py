"""Recall service entry point: `python -m services.recall` (settings from RECALL_* env)."""
from __future__ import annotations

import asyncio
import json

import faiss
import numpy as np
import redis.asyncio as aioredis
from recsys.v1 import common_pb2, recall_pb2, recall_pb2_grpc

from core.recall.build import Resources, build_channels
from core.recall.channels.item_cf import ItemCFChannel
from core.recall.channels.mf import MFChannel
from core.recall.channels.region import RegionChannel
from core.recall.channels.two_tower import TwoTowerChannel
from core.recall.filters import DropBlockedAuthors, DropSeen, DropUnavailable
from core.recall.live_catalog import LiveCatalog
from core.recall.merge import DEFAULT_WEIGHTS
from core.recall.pipeline import ChannelConfig, RecallPipeline
from core.store.catalog_log import CatalogFollower
from core.store.clock import CatalogClock
from core.store.keys import Keys
from core.versioned import Versioned
from services.common import logging as rlog
from services.common.server import Registration, run_server
from services.recall.servicer import RecallServicer
from services.recall.settings import RecallSettings


def build_pipeline(settings: RecallSettings, client: aioredis.Redis) -> RecallPipeline:
    keys = Keys(settings.redis_prefix)
    faiss.omp_set_num_threads(settings.ann_threads)
    res = Resources(client, keys, settings.registry(), catalog=None, onnx_threads=settings.onnx_threads,
                    ann_params=settings.ann_params or None)
    # The serving catalog starts as the live two-tower version's item table; online
    # publishes and removals are applied to it by the catalog follower.
    base = res.items("two_tower")
    res.catalog = LiveCatalog(base)
    channels = build_channels(settings.channel_names(), res)
    quotas, timeouts = json.loads(settings.quotas), json.loads(settings.timeouts_ms)
    # The merge weights: the code's defaults, then those fitted on a validation split and
    # published in the live two-tower manifest ("merge_weights", training.fusion), then
    # RECALL_WEIGHTS. (Read at start: a new two-tower version's weights apply on restart.)
    weights = {**DEFAULT_WEIGHTS, **res.version("two_tower").manifest.get("merge_weights", {}),
               **json.loads(settings.weights)}
    configs = {c.name: ChannelConfig(int(quotas.get(c.name, 100)),
                                     float(timeouts.get(c.name, settings.timeout_ms)),
                                     float(weights.get(c.name, 1.0)))
               for c in channels}
    filters = [DropSeen(), DropBlockedAuthors(res.catalog), DropUnavailable(res.catalog)]
    fallback = base.item_id[np.argsort(-base.log_pop, kind="stable")[: settings.fallback_size]]
    return RecallPipeline(channels, configs, filters, settings.limit, fallback_ids=fallback,
                          clock=CatalogClock(client, keys))


def catalog_of(pipeline: RecallPipeline) -> LiveCatalog:
    return next(f.catalog for f in pipeline.filters if isinstance(f, DropUnavailable))


def version_followers(pipeline: RecallPipeline, registry) -> list[Versioned]:
    """Follow the alias files: a new two-tower / item-CF version serves without a restart.
    One watcher per model; a model several channels use (item-CF: item_cf, mf and region) loads
    into each of them."""
    catalog = catalog_of(pipeline)
    loaders: dict[str, list] = {}
    current: dict[str, str] = {}
    for channel in pipeline.channels:
        if isinstance(channel, TwoTowerChannel):
            def load_two_tower(mv, channel=channel):
                channel.load_version(mv, catalog.online_items)
                catalog.set_base(channel.model.items)  # the catalog follows
            loaders.setdefault("two_tower", []).append(load_two_tower)
            current["two_tower"] = channel.model.version
        elif isinstance(channel, (ItemCFChannel, RegionChannel, MFChannel)):
            loaders.setdefault("item_cf", []).append(channel.load_version)
            current["item_cf"] = channel.version

    def load_all(fns):
        def load(mv):
            for fn in fns:
                fn(mv)
            return mv
        return load
    return [Versioned(registry, name, load_all(fns), version=current[name]) for name, fns in loaders.items()]


async def main() -> None:
    settings = RecallSettings()
    rlog.configure("recall", settings.log_level)
    client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=2.0,
                                     socket_connect_timeout=1.0)
    pipeline = build_pipeline(settings, client)
    follower = CatalogFollower(client, Keys(settings.redis_prefix), catalog_of(pipeline))
    try:
        await follower.load()  # start with every published/removed video known
    except Exception:  # Redis down at start: the follower retries in the background
        pass
    tasks = [asyncio.create_task(f.follow(settings.alias_poll_s))
             for f in version_followers(pipeline, settings.registry())]
    tasks.append(asyncio.create_task(follower.follow()))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await client.aclose()
    await run_server("recall", settings, [Registration(
        recall_pb2_grpc.add_RecallServiceServicer_to_server, RecallServicer(pipeline),
        recall_pb2.DESCRIPTOR.services_by_name["RecallService"].full_name)],
        on_stop=stop, warmup=warmup)


async def warmup(channel) -> None:
    await recall_pb2_grpc.RecallServiceStub(channel).Retrieve(
        recall_pb2.RetrieveRequest(user=common_pb2.UserContext(user_id=1)), timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
