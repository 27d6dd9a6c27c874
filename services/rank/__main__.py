"""Rank service entry point: `python -m services.rank` (settings from RANK_* env)."""
from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2
from recsys.v1 import common_pb2, model_admin_pb2, model_admin_pb2_grpc, rank_pb2, rank_pb2_grpc

from core.rank.model_store import ModelSlot
from core.rank.online_items import OnlineItems
from core.store.catalog_log import CatalogFollower
from core.store.clock import CatalogClock
from core.store.keys import Keys
from services.common import logging as rlog
from services.common.server import AdminPort, Registration, run_server
from services.rank.admin import ModelAdminServicer
from services.rank.servicer import PRERANK, RANKER, RankServicer
from services.rank.settings import RankSettings

RANK_SERVICE = rank_pb2.DESCRIPTOR.services_by_name["RankService"].full_name


async def main() -> None:
    settings = RankSettings()
    log = rlog.configure("rank", settings.log_level)
    registry = settings.registry()
    client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    slots = {RANKER: ModelSlot(registry, RANKER, settings.onnx_threads)}
    if settings.prerank and registry.aliases(PRERANK).get("live"):
        slots[PRERANK] = ModelSlot(registry, PRERANK, settings.onnx_threads)
    else:
        log.warning("pre-rank stage off: no live pre-rank model or RANK_PRERANK=false")
    for slot in slots.values():
        await slot.sync(force=True)  # pick up a canary named in the alias file
        log.info("model loaded", extra={"model": slot.name, "version": slot.live.version})
    watchers = [asyncio.create_task(slot.watch(settings.alias_poll_s)) for slot in slots.values()]
    online = None
    if settings.online_items:
        online = OnlineItems()
        # its own connection: a blocking XREAD must not share the scoring path's 1 s socket
        # timeout (a timed-out read drops the connection and reloads the whole catalog)
        follow_client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=5.0, socket_connect_timeout=1.0)
        follower = CatalogFollower(follow_client, Keys(settings.redis_prefix), online)
        try:
            await follower.load()  # start with every video published online known
        except Exception:  # Redis down at start: the follower retries in the background
            log.warning("catalog not loaded at start; following it in the background")
        watchers.append(asyncio.create_task(follower.follow()))
    servicer = RankServicer(slots[RANKER], slots.get(PRERANK),
                            CatalogClock(client, Keys(settings.redis_prefix)),
                            settings.max_candidates, settings.prerank_keep, online)

    async def warmup(channel) -> None:
        items = slots[RANKER].live.items.item_id[:1000].tolist()
        await rank_pb2_grpc.RankServiceStub(channel).Rank(rank_pb2.RankRequest(
            user=common_pb2.UserContext(user_id=1), item_ids=items, top_k=50), timeout=10)

    async def report_models(health_servicer) -> None:
        """Health name "recsys.v1.RankService/<model>": NOT_SERVING while a version the alias
        file asks for was refused (the old version keeps serving and readiness, the empty
        name, stays SERVING), SERVING otherwise."""
        async def loop() -> None:
            while True:
                for name, slot in slots.items():
                    try:
                        refused = slot.refused()
                    except (OSError, ValueError):  # an alias file caught mid-write: look again next turn
                        continue
                    status = (health_pb2.HealthCheckResponse.NOT_SERVING if refused
                              else health_pb2.HealthCheckResponse.SERVING)
                    await health_servicer.set(f"{RANK_SERVICE}/{name}", status)
                await asyncio.sleep(settings.alias_poll_s)
        watchers.append(asyncio.create_task(loop()))

    async def stop() -> None:
        for task in watchers:
            task.cancel()
        await client.aclose()

    admin = None
    if settings.admin_token:
        admin = AdminPort(f"{settings.admin_host}:{settings.admin_port}", settings.admin_token, (
            Registration(model_admin_pb2_grpc.add_ModelAdminServiceServicer_to_server, ModelAdminServicer(slots),
                         model_admin_pb2.DESCRIPTOR.services_by_name["ModelAdminService"].full_name),))
    else:
        log.warning("no RANK_ADMIN_TOKEN: the model admin API is off (versions still follow the alias files)")
    await run_server("rank", settings, [
        Registration(rank_pb2_grpc.add_RankServiceServicer_to_server, servicer,
                     rank_pb2.DESCRIPTOR.services_by_name["RankService"].full_name),
    ], on_stop=stop, warmup=warmup, on_serving=report_models, admin=admin)


if __name__ == "__main__":
    asyncio.run(main())
