"""Operations campaigns end to end: created through the admin API, in the feeds of their
region within a second (with the reason), counted, stopped at their cap and their end."""
from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
import redis

from core.store.keys import Keys
from tests.http_helpers import call, get, post

pytestmark = pytest.mark.integration


def until(check, timeout_s: float = 1.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def feed(url: str, user: int) -> dict[int, str]:
    status, body = post(f"{url}/v1/recommend", {"user_id": user, "count": 20})
    assert status == 200, body
    return {int(i["item_id"]): i["rerank_reason"] for i in body["items"]}  # int64: JSON strings


def users_by_region(world) -> tuple[int, list[int], int]:
    regions = world.users["region"]
    region = int(regions[0])
    same = [int(u) for u in world.users["user_id"][regions == region][:6]]
    other = int(world.users["user_id"][regions != region][0])
    return region, same, other


def unseen_item(stack, world, users: list[int], rank: int) -> int:
    """A video none of these users has seen (a campaign never shows a user a seen video)."""
    client = redis.Redis.from_url(stack.redis_url)
    keys = Keys(stack.prefix)
    seen = set().union(*({int(i) for i in client.zrange(keys.seen(u), 0, -1)} for u in users))
    order = np.argsort(world.videos["exposure"])
    return next(int(i) + 1 for i in order[rank:] if int(i) + 1 not in seen)


def campaign(cid: str, items: list[int], region: int, **kw) -> dict:
    now = int(time.time() * 1000)
    return {"campaign_id": cid, "item_ids": items, "kind": "KIND_SLOT", "end_ms": now + 600_000,
            "regions": [region], **kw}


def test_a_slot_campaign_reaches_its_region_within_a_second_and_stops_at_its_cap(stack, world):
    url = stack.http_url
    region, users, other = users_by_region(world)
    item = unseen_item(stack, world, users + [other], len(world.videos["exposure"]) // 3)
    cid = f"launch-{uuid.uuid4().hex[:8]}"
    status, created = post(f"{url}/v1/admin/campaigns", campaign(cid, [item], region, impression_cap=2))
    assert status == 200 and created["active"] and created["delivered"] == "0", created

    reason = f"inserted:InsertOperationSlots campaign:{cid}"
    shown = until(lambda: feed(url, users[0]).get(item))
    assert shown == reason
    assert item not in feed(url, other)  # another region
    assert feed(url, users[1]).get(item) == reason  # the second impression reaches the cap
    assert item not in feed(url, users[2])
    listed = {c["campaign_id"]: c for c in get(f"{url}/v1/admin/campaigns")[1]["campaigns"]}
    assert listed[cid]["delivered"] == "2" and not listed[cid]["active"]


def test_an_ended_campaign_leaves_feeds_and_an_update_keeps_its_count(stack, world):
    url = stack.http_url
    region, users, _ = users_by_region(world)
    item = unseen_item(stack, world, users, len(world.videos["exposure"]) // 2)
    cid = f"promo-{uuid.uuid4().hex[:8]}"
    assert post(f"{url}/v1/admin/campaigns", campaign(cid, [item], region))[0] == 200
    assert post(f"{url}/v1/admin/campaigns", campaign(cid, [item], region))[0] == 409
    assert until(lambda: item in feed(url, users[3]))
    status, updated = call("PUT", f"{url}/v1/admin/campaigns/{cid}", campaign(cid, [item], region, impression_cap=50))
    assert status == 200 and int(updated["delivered"]) >= 1 and updated["impression_cap"] == "50"
    status, ended = call("DELETE", f"{url}/v1/admin/campaigns/{cid}")
    assert status == 200 and not ended["active"]
    assert until(lambda: item not in feed(url, users[4]))
    assert call("DELETE", f"{url}/v1/admin/campaigns/nope-{cid}")[0] == 404


def test_a_campaign_stops_at_its_end_time(stack, world):
    url = stack.http_url
    region, users, _ = users_by_region(world)
    item = unseen_item(stack, world, users, len(world.videos["exposure"]) // 4)
    end = int(time.time() * 1000) + 1500
    assert post(f"{url}/v1/admin/campaigns", campaign(f"short-{uuid.uuid4().hex[:8]}", [item], region,
                                                      end_ms=end))[0] == 200
    assert until(lambda: item in feed(url, users[5]))
    time.sleep(max(0.0, end / 1000 - time.time()) + 0.05)
    assert item not in feed(url, users[5])


@pytest.mark.parametrize("change, field", [
    ({"campaign_id": "bad id!"}, "campaign_id"), ({"item_ids": []}, "item_ids"),
    ({"kind": "KIND_BOOST", "boost": 5.0}, "boost"), ({"end_ms": 1}, "end_ms"),
    ({"regions": [999]}, "regions"), ({"impression_cap": -1}, "impression_cap"),
    ({"kind": "KIND_UNSPECIFIED"}, "kind"),
])
def test_bad_campaigns_are_refused_naming_the_field(stack, change, field):
    body = {**campaign("ok-id", [1], 1), **change}
    status, reply = post(f"{stack.http_url}/v1/admin/campaigns", body)
    assert status == 400 and reply["error"]["message"].startswith(field), reply
