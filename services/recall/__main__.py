"""Recall service entry point: `python -m services.recall` (settings from RECALL_* env)."""
from __future__ import annotations

import asyncio
import json

import numpy as np
import redis.asyncio as aioredis
from recsys.v1 import common_pb2, recall_pb2, recall_pb2_grpc

from services.common import logging as rlog
from services.common.items import ItemTable
from services.common.keys import Keys
from services.common.server import Registration, run_server
from services.common.watch import LiveVersionWatcher
from services.recall.channels.item_cf import ItemCFChannel
from services.recall.channels.two_tower import TwoTowerChannel
from services.recall.filters import DropSeen, DropUnknown
from services.recall.pipeline import ChannelConfig, RecallPipeline
from services.recall.registry import Resources, build_channels
from services.recall.servicer import RecallServicer
from services.recall.settings import RecallSettings


def build_pipeline(settings: RecallSettings, client: aioredis.Redis) -> RecallPipeline:
    res = Resources(client, Keys(settings.redis_prefix), settings.registry(),
                    settings.onnx_threads)
    channels = build_channels(settings.channel_names(), res)
    quotas, timeouts = json.loads(settings.quotas), json.loads(settings.timeouts_ms)
    configs = {c.name: ChannelConfig(int(quotas.get(c.name, 100)),
                                     float(timeouts.get(c.name, settings.timeout_ms)))
               for c in channels}
    # The serving catalog: what the live two-tower version's item table holds (taken from the
    # channel when it runs, so the version's files are not opened and hashed twice).
    catalog = next((c.model.items for c in channels if isinstance(c, TwoTowerChannel)), None)
    if catalog is None:
        catalog = ItemTable.load(res.registry.open("two_tower").file("items.npz"))
    filters = [DropSeen(), DropUnknown(catalog.item_id)]
    return RecallPipeline(channels, configs, filters, settings.limit)


def version_watchers(pipeline: RecallPipeline, registry) -> list[LiveVersionWatcher]:
    """Follow the alias files: a new two-tower / item-CF version serves without a restart."""
    watchers = []
    unknown = next(f for f in pipeline.filters if isinstance(f, DropUnknown))
    for channel in pipeline.channels:
        if isinstance(channel, TwoTowerChannel):
            def load_two_tower(mv, channel=channel):
                channel.load_version(mv)
                unknown.known_ids = np.sort(channel.model.items.item_id)  # the catalog follows
            watchers.append(LiveVersionWatcher(registry, "two_tower", channel.model.version, load_two_tower))
        elif isinstance(channel, ItemCFChannel):
            watchers.append(LiveVersionWatcher(registry, "item_cf", channel.version, channel.load_version))
    return watchers


async def main() -> None:
    settings = RecallSettings()
    rlog.configure("recall", settings.log_level)
    client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=1.0,
                                     socket_connect_timeout=1.0)
    pipeline = build_pipeline(settings, client)
    tasks = [asyncio.create_task(w.watch(settings.alias_poll_s))
             for w in version_watchers(pipeline, settings.registry())]

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
