"""Operations campaigns in Redis: the campaigns (a hash of JSON documents) and the
impressions each delivered (a hash of counters), both under the `{ops}` hash tag.

Campaigns are few (tens) and change rarely, so a reader loads them all at once
(`CampaignStore.load`, one round trip) and the gateway keeps them in memory, refreshed every
fraction of a second. Delivered impressions are counted with HINCRBY as feeds are served.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.errors import AlreadyExists, NotFound, Unavailable
from core.store.keys import Keys

SLOT = "slot"
BOOST = "boost"


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    item_ids: tuple[int, ...]
    kind: str                    # SLOT or BOOST
    start_ms: int                # wall clock, inclusive
    end_ms: int                  # wall clock, exclusive
    regions: tuple[int, ...] = ()  # empty = every region
    boost: float = 0.0           # BOOST only
    impression_cap: int = 0      # 0 = no cap
    delivered: int = field(default=0, compare=False)  # read from the counters, not stored

    def encode(self) -> str:
        doc = asdict(self)
        doc.pop("delivered")
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def decode(cls, value: str | bytes, delivered: int = 0) -> Campaign:
        doc = json.loads(value)
        return cls(doc["campaign_id"], tuple(doc["item_ids"]), doc["kind"], int(doc["start_ms"]),
                   int(doc["end_ms"]), tuple(doc.get("regions", ())), float(doc.get("boost", 0.0)),
                   int(doc.get("impression_cap", 0)), delivered)

    def is_active(self, now_ms: int) -> bool:
        """In its time window and under its impression cap."""
        under_cap = not self.impression_cap or self.delivered < self.impression_cap
        return self.start_ms <= now_ms < self.end_ms and under_cap

    def serves_region(self, region: int) -> bool:
        return not self.regions or region in self.regions


class CampaignStore:
    def __init__(self, client: aioredis.Redis, keys: Keys):
        self.client, self.keys = client, keys

    async def _call(self, coro):
        try:
            return await coro
        except (RedisError, OSError) as err:
            raise Unavailable(f"campaign store unavailable: {type(err).__name__}") from err

    async def load(self) -> list[Campaign]:
        """Every campaign with its delivered count, in one round trip, ordered by id."""
        async def read():
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(self.keys.campaigns())
                pipe.hgetall(self.keys.campaigns_delivered())
                return await pipe.execute()
        docs, delivered = await self._call(read())
        out = [Campaign.decode(v, int(delivered.get(k, 0))) for k, v in docs.items()]
        return sorted(out, key=lambda c: c.campaign_id)

    async def get(self, campaign_id: str) -> Campaign:
        campaigns = {c.campaign_id: c for c in await self.load()}
        if campaign_id not in campaigns:
            raise NotFound(f"campaign_id: no campaign {campaign_id!r}")
        return campaigns[campaign_id]

    async def create(self, campaign: Campaign) -> Campaign:
        created = await self._call(self.client.hsetnx(self.keys.campaigns(), campaign.campaign_id,
                                                      campaign.encode()))
        if not created:
            raise AlreadyExists(f"campaign_id: {campaign.campaign_id!r} exists")
        return campaign

    async def update(self, campaign: Campaign) -> Campaign:
        """Replace a campaign's settings; its delivered count is kept."""
        old = await self.get(campaign.campaign_id)
        await self._call(self.client.hset(self.keys.campaigns(), campaign.campaign_id, campaign.encode()))
        return replace(campaign, delivered=old.delivered)

    async def end(self, campaign_id: str, now_ms: int) -> Campaign:
        old = await self.get(campaign_id)
        ended = replace(old, end_ms=min(old.end_ms, now_ms), start_ms=min(old.start_ms, now_ms))
        await self._call(self.client.hset(self.keys.campaigns(), campaign_id, ended.encode()))
        return ended

    def queue_count(self, pipe, delivered: dict[str, int]) -> None:
        """Add the delivered-impression increments to a pipeline (replies: the new totals)."""
        for campaign_id, n in delivered.items():
            pipe.hincrby(self.keys.campaigns_delivered(), campaign_id, n)
