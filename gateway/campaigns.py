"""Operations campaigns in the gateway: the admin API's edge (validate, delegate, convert)
and the in-memory copy the live path reads.

The live path never waits on Redis for campaigns: `CampaignCache` reloads them all every
`refresh_s` (0.25 s by default, so a new or ended campaign reaches feeds well within a
second). Delivered impressions are counted as feeds are served (pipeline.py, in the same
round trip as the page's display info); the counter's new total updates this replica's copy
at once, so a capped campaign stops here on the impression that reaches the cap (feeds
already in flight then may still carry it), and on the other replicas within one refresh.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import replace

from recsys.v1 import campaign_pb2, campaign_pb2_grpc

from core.errors import InvalidArgument
from core.store.campaigns import BOOST, SLOT, Campaign, CampaignStore

log = logging.getLogger(__name__)
ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_ITEMS = 100
MAX_BOOST = 2.0  # the default policy's BoostItems bound: a larger factor would be cut anyway
KINDS = {campaign_pb2.Campaign.KIND_SLOT: SLOT, campaign_pb2.Campaign.KIND_BOOST: BOOST}
KIND_PROTOS = {v: k for k, v in KINDS.items()}


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_campaign(request: campaign_pb2.Campaign, n_regions: int, now: int) -> Campaign:
    if not ID_RE.match(request.campaign_id):
        raise InvalidArgument("campaign_id", "must be 1..64 characters of A-Z a-z 0-9 _ . -")
    items = list(request.item_ids)
    if not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidArgument("item_ids", f"must hold 1..{MAX_ITEMS} items, got {len(items)}")
    if min(items) < 1 or len(set(items)) != len(items):
        raise InvalidArgument("item_ids", "must be distinct ids >= 1")
    if request.kind not in KINDS:
        raise InvalidArgument("kind", "must be KIND_SLOT or KIND_BOOST")
    kind = KINDS[request.kind]
    if kind == BOOST and not 1.0 < request.boost <= MAX_BOOST:
        raise InvalidArgument("boost", f"must be in (1, {MAX_BOOST:g}] for KIND_BOOST, got {request.boost:g}")
    start = request.start_ms or now
    if start < 0 or request.end_ms <= start:
        raise InvalidArgument("end_ms", f"must be after start_ms ({start}), got {request.end_ms}")
    regions = list(request.regions)
    if any(not 1 <= r <= n_regions for r in regions):
        raise InvalidArgument("regions", f"each must be 1..{n_regions}")
    if request.impression_cap < 0:
        raise InvalidArgument("impression_cap", f"must be >= 0, got {request.impression_cap}")
    return Campaign(request.campaign_id, tuple(items), kind, start, request.end_ms,
                    tuple(sorted(set(regions))), float(request.boost) if kind == BOOST else 0.0,
                    request.impression_cap)


def campaign_to_proto(c: Campaign, now: int) -> campaign_pb2.Campaign:
    return campaign_pb2.Campaign(
        campaign_id=c.campaign_id, item_ids=c.item_ids, kind=KIND_PROTOS[c.kind], boost=c.boost,
        start_ms=c.start_ms, end_ms=c.end_ms, regions=c.regions, impression_cap=c.impression_cap,
        delivered=c.delivered, active=c.is_active(now))


class CampaignCache:
    """The campaigns as last read from Redis; the live path reads `campaigns` only."""

    def __init__(self, store: CampaignStore, refresh_s: float = 0.25):
        self.store, self.refresh_s = store, refresh_s
        self.campaigns: list[Campaign] = []
        # Highest delivered total this replica has seen per campaign. Counters only grow, so
        # a refresh whose read started before an increment must not lower what is known
        # (it did: a capped campaign was served once more after reaching its cap).
        self._delivered: dict[str, int] = {}

    def _apply(self, campaigns: list[Campaign]) -> list[Campaign]:
        return [replace(c, delivered=max(c.delivered, self._delivered.get(c.campaign_id, 0))) for c in campaigns]

    async def refresh(self) -> None:
        self.campaigns = self._apply(await self.store.load())

    def count(self, totals: dict[str, int]) -> None:
        """New delivered totals (from the counters' replies) into this replica's copy."""
        for cid, total in totals.items():
            self._delivered[cid] = max(total, self._delivered.get(cid, 0))
        self.campaigns = self._apply(self.campaigns)

    async def follow(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # Redis down: keep serving the last campaigns read
                log.warning("campaign refresh failed", extra={"error": repr(err)[:200]})
            await asyncio.sleep(self.refresh_s)


class CampaignServicer(campaign_pb2_grpc.CampaignServiceServicer):
    """The admin API's logic (CampaignService in campaign.proto), one servicer for both edges:
    gRPC (registered in gateway/__main__.py, an admin method for the AuthInterceptor) and HTTP
    (gateway/http/app.py); both need the admin credential."""

    def __init__(self, store: CampaignStore, cache: CampaignCache, n_regions: int):
        self.store, self.cache, self.n_regions = store, cache, n_regions

    async def CreateCampaign(self, request, context=None) -> campaign_pb2.Campaign:
        now = now_ms()
        c = await self.store.create(parse_campaign(request, self.n_regions, now))
        log.info("campaign created", extra={"campaign_id": c.campaign_id})
        await self._refresh()
        return campaign_to_proto(c, now)

    async def UpdateCampaign(self, request, context=None) -> campaign_pb2.Campaign:
        now = now_ms()
        c = await self.store.update(parse_campaign(request, self.n_regions, now))
        log.info("campaign updated", extra={"campaign_id": c.campaign_id})
        await self._refresh()
        return campaign_to_proto(c, now)

    async def EndCampaign(self, request, context=None) -> campaign_pb2.Campaign:
        if not ID_RE.match(request.campaign_id):
            raise InvalidArgument("campaign_id", "must be 1..64 characters of A-Z a-z 0-9 _ . -")
        now = now_ms()
        c = await self.store.end(request.campaign_id, now)
        log.info("campaign ended", extra={"campaign_id": c.campaign_id})
        await self._refresh()
        return campaign_to_proto(c, now)

    async def ListCampaigns(self, request=None, context=None) -> campaign_pb2.ListCampaignsResponse:
        now = now_ms()
        return campaign_pb2.ListCampaignsResponse(
            campaigns=[campaign_to_proto(c, now) for c in await self.store.load()])

    async def _refresh(self) -> None:
        """This replica applies a change at once (the others within one refresh)."""
        try:
            await self.cache.refresh()
        except Exception:  # the change is stored; the periodic refresh will pick it up
            pass
