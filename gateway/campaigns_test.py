import asyncio

import pytest
from recsys.v1 import campaign_pb2

from core.errors import InvalidArgument
from core.store.campaigns import SLOT, Campaign
from gateway.campaigns import CampaignCache, CampaignServicer, campaign_to_proto, parse_campaign

C = campaign_pb2.Campaign
NOW = 10_000


def good(**kw) -> campaign_pb2.Campaign:
    return C(**{"campaign_id": "launch", "item_ids": [3, 4], "kind": C.KIND_SLOT, "end_ms": NOW + 100, **kw})


def test_a_good_campaign_starts_now_by_default():
    c = parse_campaign(good(regions=[2, 1, 2]), n_regions=5, now=NOW)
    assert c == Campaign("launch", (3, 4), SLOT, NOW, NOW + 100, (1, 2))
    assert campaign_to_proto(c, NOW).active


@pytest.mark.parametrize("kw, field", [
    ({"campaign_id": ""}, "campaign_id"), ({"campaign_id": "a b"}, "campaign_id"),
    ({"item_ids": []}, "item_ids"), ({"item_ids": list(range(1, 102))}, "item_ids"),
    ({"item_ids": [0]}, "item_ids"), ({"item_ids": [3, 3]}, "item_ids"),
    ({"kind": C.KIND_UNSPECIFIED}, "kind"), ({"kind": C.KIND_BOOST, "boost": 1.0}, "boost"),
    ({"kind": C.KIND_BOOST, "boost": 2.5}, "boost"), ({"end_ms": NOW}, "end_ms"),
    ({"start_ms": NOW + 200}, "end_ms"), ({"regions": [6]}, "regions"), ({"regions": [0]}, "regions"),
    ({"impression_cap": -1}, "impression_cap"),
])
def test_bad_campaigns_name_the_field(kw, field):
    with pytest.raises(InvalidArgument) as err:
        parse_campaign(good(**kw), n_regions=5, now=NOW)
    assert err.value.field == field


def test_ending_checks_the_id_before_the_store():
    servicer = CampaignServicer(store=None, cache=None, n_regions=5)
    with pytest.raises(InvalidArgument):
        asyncio.run(servicer.EndCampaign(campaign_pb2.EndCampaignRequest(campaign_id="bad id")))


def test_counted_totals_update_the_cached_copy_at_once():
    cache = CampaignCache(store=None)
    cache.campaigns = [Campaign("a", (1,), SLOT, 0, 10, impression_cap=2, delivered=1)]
    cache.count({"a": 2, "unknown": 5})
    assert cache.campaigns[0].delivered == 2 and not cache.campaigns[0].is_active(5)


def test_a_refresh_read_before_an_increment_does_not_lower_the_count():
    class Store:
        async def load(self):
            return [Campaign("a", (1,), SLOT, 0, 10, impression_cap=2, delivered=1)]  # a stale read

    cache = CampaignCache(Store())
    cache.count({"a": 2})
    asyncio.run(cache.refresh())
    assert cache.campaigns[0].delivered == 2 and not cache.campaigns[0].is_active(5)
