import asyncio

import numpy as np
import pytest

from core.context import RequestContext
from core.errors import InvalidArgument
from core.recall.channels.base import Channel, ChannelResult
from core.recall.filters import DropSeen
from core.recall.pipeline import ChannelConfig, RecallPipeline
from core.store.user_state import UserStateData


class Fixed(Channel):
    def __init__(self, name, ids, delay=0.0, fail=False):
        self.name, self.ids, self.delay, self.fail = name, np.array(ids, np.int64), delay, fail
        self.asked = None

    async def retrieve(self, request):
        self.asked = request
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("boom")
        ids = self.ids[: request.fetch]
        return ChannelResult(ids, np.ones(ids.size, np.float32))


def pipeline(*channels, timeout_ms=200):
    return RecallPipeline(list(channels), {c.name: ChannelConfig(3, timeout_ms) for c in channels},
                          [DropSeen()], default_limit=10)


def run(p, state=UserStateData(), quotas=None, limit=0):
    return asyncio.run(p.retrieve(RequestContext(user_id=1), state, quotas, limit))


def test_slow_and_failing_channels_are_skipped_and_flagged():
    p = pipeline(Fixed("a", [1, 2, 3]), Fixed("slow", [4], delay=1.0), Fixed("bad", [5], fail=True),
                 timeout_ms=50)
    out = run(p)
    assert out.candidates.item_ids.tolist() == [1, 2, 3]
    stats = {s.channel: s for s in out.channel_stats}
    assert stats["slow"].timed_out and stats["bad"].error == "RuntimeError"
    assert stats["a"].returned == 3 and not stats["a"].error


def test_channels_fetch_headroom_for_the_seen_filter():
    a = Fixed("a", [1, 2, 3, 4, 5, 6])
    out = run(pipeline(a), UserStateData(seen_items=np.array([1, 2])))
    assert a.asked.quota == 3 and a.asked.fetch == 5
    assert out.candidates.item_ids.tolist() == [3, 4, 5]
    assert out.filter_stats == [("DropSeen", 2)]


def test_quota_overrides_and_zero_disables():
    a, b = Fixed("a", [1, 2, 3]), Fixed("b", [7, 8])
    out = run(pipeline(a, b), quotas={"b": 0})
    assert b.asked is None and set(out.candidates.item_ids.tolist()) == {1, 2, 3}


@pytest.mark.parametrize("quotas, limit, field", [
    ({"nope": 3}, 0, "quotas[0].channel"),
    ({"a": -1}, 0, "quotas[0].quota"),
    ({"a": 10_000}, 0, "quotas[0].quota"),
    ({}, 10_000, "limit"),
])
def test_bad_quotas_and_limits_name_the_field(quotas, limit, field):
    with pytest.raises(InvalidArgument) as err:
        run(pipeline(Fixed("a", [1])), quotas=quotas, limit=limit)
    assert err.value.field == field


def test_unconfigured_channel_fails_at_construction():
    with pytest.raises(ValueError, match="no configuration"):
        RecallPipeline([Fixed("a", [1])], {}, [])
