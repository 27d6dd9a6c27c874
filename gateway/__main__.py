"""Gateway entry point: `python -m gateway` (settings from GATEWAY_* env)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio as aioredis
from recsys.v1 import campaign_pb2, campaign_pb2_grpc, catalog_pb2, catalog_pb2_grpc, gateway_pb2, gateway_pb2_grpc

from core.ids import IdMap
from core.items import ItemTable
from core.recall.channels.hot import HotChannel
from core.registry.reader import ModelVersion
from core.store import durability
from core.store.campaigns import CampaignStore
from core.store.catalog_log import CatalogWriter
from core.store.clock import CatalogClock
from core.store.events import EventWriter
from core.store.impressions import ImpressionLog
from core.store.item_meta import ItemMeta, ItemMetaCache, write_item_meta
from core.store.keys import Keys
from core.versioned import Versioned
from gateway.auth import HEADER, AuthInterceptor, Authorizer
from gateway.campaigns import CampaignCache, CampaignServicer
from gateway.catalog import CatalogServicer
from gateway.clients import StageClients
from gateway.experiments import Experiments
from gateway.fallback import HotFallback
from gateway.http.app import HttpApi
from gateway.http.auth import HttpAuth
from gateway.http.server import HttpServer, bind
from gateway.identity import UserTokens
from gateway.ids import ExternalIds
from gateway.limits import KeyedBuckets
from gateway.pipeline import RecommendPipeline
from gateway.servicer import GatewayServicer
from gateway.settings import GatewaySettings
from services.common import logging as rlog
from services.common.server import Registration, run_server
from services.common.shedding import LoadShedder


def item_table_of(mv: ModelVersion) -> ItemTable:
    return ItemTable.load(mv.file("items.npz"))


async def main() -> None:
    settings = GatewaySettings()
    log = rlog.configure("gateway", settings.log_level)
    try:  # fail closed: no keys and no explicit GATEWAY_AUTH=off is a configuration error
        authorizer = Authorizer(settings.key_list("api_keys"), settings.key_list("admin_keys"),
                                enabled=settings.auth == "on",
                                key_limit=KeyedBuckets(settings.key_rps, settings.key_burst))
        identity = UserTokens(settings.user_token_secret, authorizer)
    except ValueError as err:
        log.error("refusing to start", extra={"error": str(err)})
        raise SystemExit(2) from None
    if not authorizer.enabled:
        log.warning("GATEWAY_AUTH=off: the API, catalog writes included, is open (a local demo only)")
    elif not authorizer.admin_keys:
        log.warning("no GATEWAY_ADMIN_KEYS: catalog writes are refused to everyone")
    client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=0.5,
                                     socket_connect_timeout=0.5)
    keys = Keys(settings.redis_prefix)
    await durability.check(client)  # warns (log + metric) when Redis could lose acknowledged events
    # Authors/categories for explanations, events and catalog checks, from the live two-tower
    # version and followed like every model; the gateway runs without them (None).
    followed_items = Versioned.load(settings.registry(), "two_tower", item_table_of, required=False)
    items = followed_items.value
    n_regions = int(items.region.max()) if items is not None and len(items) else 64
    clients = StageClients(settings.recall_addr, settings.rank_addr, settings.rerank_addr,
                           settings.stage_credentials())
    unreachable = await clients.connect(timeout_s=5.0)
    if unreachable:
        log.warning("downstreams not reachable yet", extra={"addresses": unreachable})
    campaign_store = CampaignStore(client, keys)
    campaigns = CampaignCache(campaign_store, settings.campaign_refresh_s)
    meta_cache = ItemMetaCache(settings.item_meta_ttl_s)
    pipeline = RecommendPipeline(settings, clients, client, keys,
                                 HotFallback(HotChannel(client, keys), items), followed_items, campaigns, meta_cache)
    experiments = Experiments(settings.experiments_file)
    impressions = ImpressionLog(client, keys) if settings.log_impressions else None
    try:
        ids = ExternalIds(IdMap.load(settings.id_map) if settings.id_map else None)
    except (OSError, KeyError, ValueError) as err:
        log.error("refusing to start: GATEWAY_ID_MAP unreadable", extra={"error": str(err)[:300]})
        raise SystemExit(2) from None
    servicer = GatewayServicer(pipeline, EventWriter(client, keys, followed_items), settings.max_count,
                               settings.max_events_per_batch, n_regions, experiments, impressions=impressions,
                               user_limit=KeyedBuckets(settings.user_rps, settings.user_burst), identity=identity,
                               ids=ids)

    follow = asyncio.create_task(followed_items.follow(settings.alias_poll_s))
    follow_campaigns = asyncio.create_task(campaigns.follow())
    # One load limit for both edges: an HTTP call and a gRPC call take the same slot.
    shedder = LoadShedder("gateway", settings.max_concurrent_rpcs)
    # One campaign admin API on both edges: gRPC CampaignService (an admin method for the
    # AuthInterceptor) and the HTTP routes under /v1/admin/campaigns.
    campaign_admin = CampaignServicer(campaign_store, campaigns, n_regions)
    http_api = HttpApi(servicer, campaign_admin,
                       HttpAuth(authorizer), shedder, followed_items, settings.registry(),
                       experiments, [Path(d.strip()) for d in settings.reports_dirs.split(",") if d.strip()],
                       settings.max_message_bytes)
    http = HttpServer(http_api.app(), bind(settings.host, settings.http_port))

    async def close() -> None:
        await http.stop()
        follow.cancel()
        follow_campaigns.cancel()
        await clients.close()
        if impressions is not None:
            await impressions.drain()
        await client.aclose()

    async def start_http(_health) -> None:
        http.start()
        log.info("http serving", extra={"address": f"http://{settings.host}:{http.port}/"})

    async def write_meta(item_id: int, meta: ItemMeta) -> None:
        try:
            await write_item_meta(client, keys, item_id, meta)
            meta_cache.put(item_id, meta)  # this gateway serves the new video's display info at once
        except Exception as err:  # the video is published; it is served without display info
            log.warning("display info not stored", extra={"item_id": item_id, "error": repr(err)[:200]})

    catalog = CatalogServicer(CatalogWriter(client, keys), CatalogClock(client, keys), followed_items, n_regions,
                              publish_limit=KeyedBuckets(settings.publish_rps, settings.publish_burst),
                              publish_skew_ms=settings.publish_skew_ms, write_meta=write_meta)
    api_keys = settings.key_list("api_keys")
    await run_server("gateway", settings, [
        Registration(gateway_pb2_grpc.add_GatewayServiceServicer_to_server, servicer,
                     gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"].full_name),
        Registration(catalog_pb2_grpc.add_CatalogServiceServicer_to_server, catalog,
                     catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name),
        Registration(campaign_pb2_grpc.add_CampaignServiceServicer_to_server, campaign_admin,
                     campaign_pb2.DESCRIPTOR.services_by_name["CampaignService"].full_name)], on_stop=close,
        warmup=lambda channel: warmup(channel, api_keys[:1]), interceptors=[AuthInterceptor(authorizer)],
        on_serving=start_http, shedder=shedder)


async def warmup(channel, keys: list[str]) -> None:
    await gateway_pb2_grpc.GatewayServiceStub(channel).Recommend(
        gateway_pb2.RecommendRequest(user_id=1, count=20), timeout=10,
        metadata=[(HEADER, keys[0])] if keys else None)


if __name__ == "__main__":
    asyncio.run(main())
