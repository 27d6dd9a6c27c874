"""The rerank service over gRPC: policies, operations input, and a reason for every change."""
from __future__ import annotations

import grpc
import pytest
from recsys.v1 import common_pb2, rerank_pb2, rerank_pb2_grpc


@pytest.fixture(scope="module")
def rerank(stack):
    with grpc.insecure_channel(stack.address("rerank")) as channel:
        yield rerank_pb2_grpc.RerankServiceStub(channel)


def request(n=60, **kw):
    ids = list(range(1, n + 1))
    return rerank_pb2.RerankRequest(user=common_pb2.UserContext(user_id=1), item_ids=ids,
                                    scores=[1.0 - i / n for i in range(n)], count=kw.pop("count", 10), **kw)


@pytest.mark.parametrize("policy", ["", "default", "dpp", "relevance", "diverse", "explore"])
def test_every_input_item_is_shown_or_removed_with_a_reason(rerank, policy):
    reply = rerank.Rerank(request(policy=policy), timeout=5)
    assert reply.policy == (policy or "default")
    assert len(reply.item_ids) == 10
    assert sorted(list(reply.item_ids) + list(reply.removed_item_ids)) == list(range(1, 61))
    assert len(reply.removed_reasons) == len(reply.removed_item_ids) and all(reply.removed_reasons)


def test_blocked_boosted_and_slotted_items(rerank):
    reply = rerank.Rerank(request(blocked_item_ids=[1, 2], boosts={40: 5.0},
                                  pools=[rerank_pb2.SlotPool(name="operations", item_ids=[1, 999])]),
                          timeout=5)
    feed = list(reply.item_ids)
    assert 1 not in feed and 2 not in feed          # blocked, even from a pool
    assert feed[2] == 999                           # the operations slot (position 3)
    removed = dict(zip(reply.removed_item_ids, reply.removed_reasons))
    assert removed[1] == removed[2] == "DropBlockedItems"
    changes = {c.item_id: (c.kind, c.reason) for c in reply.changes}
    assert changes[999] == (rerank_pb2.RerankChange.KIND_INSERTED, "InsertOperationSlots")


@pytest.mark.parametrize("kw, field", [
    ({"policy": "chaos"}, "policy"),
    ({"count": 0}, "count"),
    ({"boosts": {3: -1.0}}, "boosts[3]"),
    ({"pools": [rerank_pb2.SlotPool(name="", item_ids=[1])]}, "pools[0].name"),
])
def test_bad_requests_name_the_field(rerank, kw, field):
    with pytest.raises(grpc.RpcError) as err:
        rerank.Rerank(request(**kw), timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(field)
