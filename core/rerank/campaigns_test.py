import numpy as np

from core.rerank.campaigns import INSERTED_BY_SLOT, delivered_by_campaign, plan_campaigns
from core.store.campaigns import BOOST, SLOT, Campaign

NOW = 1_000


def test_active_campaigns_of_the_region_become_a_pool_and_boosts():
    campaigns = [
        Campaign("b-slot", (5, 6), SLOT, 0, 2_000, regions=(1,)),
        Campaign("a-slot", (7, 5), SLOT, 0, 2_000),
        Campaign("boost", (8, 9), BOOST, 0, 2_000, boost=1.5),
        Campaign("other-region", (10,), SLOT, 0, 2_000, regions=(2,)),
        Campaign("ended", (11,), SLOT, 0, 500),
        Campaign("capped", (12,), SLOT, 0, 2_000, impression_cap=1, delivered=1),
    ]
    plan = plan_campaigns(campaigns, region=1, now_ms=NOW, seen=np.array([6]))
    assert plan.pool == [7, 5]  # id order, no duplicates, the seen item 6 left out
    assert plan.origin[5] == "a-slot" and plan.boosts == {8: 1.5, 9: 1.5}
    assert not plan_campaigns(campaigns[3:], region=1, now_ms=NOW)


def test_the_larger_boost_wins():
    plan = plan_campaigns([Campaign("a", (1,), BOOST, 0, 2_000, boost=1.2),
                           Campaign("b", (1,), BOOST, 0, 2_000, boost=1.8)], 1, NOW)
    assert plan.boosts == {1: 1.8}


def test_delivered_counts_inserted_slot_items_and_boosted_items_in_the_feed():
    plan = plan_campaigns([Campaign("s", (1, 2), SLOT, 0, 2_000), Campaign("b", (3,), BOOST, 0, 2_000, boost=2)],
                          1, NOW)
    delivered = delivered_by_campaign(plan, [1, 2, 3, 4], {1: INSERTED_BY_SLOT, 4: "moved:MMR"})
    assert delivered == {1: "s", 3: "b"}  # 2 was in the feed on its own merit
