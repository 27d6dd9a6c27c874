"""What operations campaigns ask of one request's rerank: the operations slot pool and the
boosts, with which campaign each item comes from (for the feed's reasons and the counts).

Slot campaigns feed the `operations` pool that `InsertOperationSlots` fills its positions
from: campaigns in id order, each campaign's items in its order, items the user has already
seen left out (a campaign should not show one user the same video feed after feed). Boost
campaigns become `BoostItems` factors; when two campaigns boost one item the larger wins.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.store.campaigns import BOOST, SLOT, Campaign

POOL = "operations"
MAX_POOL = 100  # the rerank service's limit per pool
INSERTED_BY_SLOT = "inserted:InsertOperationSlots"


@dataclass(frozen=True)
class CampaignPlan:
    pool: list[int] = field(default_factory=list)
    boosts: dict[int, float] = field(default_factory=dict)
    origin: dict[int, str] = field(default_factory=dict)  # item id -> campaign id

    def __bool__(self) -> bool:
        return bool(self.pool or self.boosts)


def plan_campaigns(campaigns: list[Campaign], region: int, now_ms: int,
                   seen: np.ndarray | None = None) -> CampaignPlan:
    """The active campaigns of the user's region as a slot pool and boosts."""
    seen_set = set(seen.tolist()) if seen is not None and seen.size else set()
    plan = CampaignPlan()
    for c in sorted(campaigns, key=lambda c: c.campaign_id):
        if not (c.is_active(now_ms) and c.serves_region(region)):
            continue
        for item in c.item_ids:
            if c.kind == SLOT and item not in seen_set and item not in plan.origin and len(plan.pool) < MAX_POOL:
                plan.pool.append(item)
                plan.origin[item] = c.campaign_id
            elif c.kind == BOOST and c.boost > plan.boosts.get(item, 0.0):
                plan.boosts[item] = c.boost
                plan.origin.setdefault(item, c.campaign_id)
    return plan


def delivered_by_campaign(plan: CampaignPlan, feed_item_ids: list[int],
                          reasons: dict[int, str]) -> dict[int, str]:
    """Feed items a campaign delivered, item id -> campaign id: a slot campaign's item that
    the slot rule inserted, or any boosted item in the feed (the boost acted on its score)."""
    out = {}
    for item in feed_item_ids:
        campaign = plan.origin.get(item)
        if campaign and (item in plan.boosts or reasons.get(item, "") == INSERTED_BY_SLOT):
            out[item] = campaign
    return out
