import numpy as np
import pytest
from recsys.v1 import common_pb2, gateway_pb2

from core.errors import InvalidArgument
from core.ids import IdMap, new_user_id
from gateway.ids import ExternalIds

IDS = ExternalIds(IdMap(np.array(["alice", "bob"]), np.array(["v0", "v7"])))


def test_source_ids_become_dense_and_plain_ids_pass_untouched():
    req = gateway_pb2.RecommendRequest(external_user_id="bob", count=5)
    assert IDS.recommend(req).user_id == 2 and req.user_id == 0  # the caller's message is not changed
    plain = gateway_pb2.RecommendRequest(user_id=9, count=5)
    assert IDS.recommend(plain) is plain and ExternalIds(None).recommend(plain) is plain
    exp = IDS.explain(gateway_pb2.ExplainRequest(external_user_id="alice", external_item_id="v7"))
    assert (exp.user_id, exp.item_id) == (1, 2)
    events = IDS.events([common_pb2.Event(event_id="e", external_user_id="carol", external_item_id="v0", type=3)])
    assert events[0].user_id == new_user_id("carol") and events[0].item_id == 1
    assert IDS.item_source(2) == "v7" and IDS.item_source(99) == "" and ExternalIds(None).item_source(2) == ""


@pytest.mark.parametrize("request_, field, match", [
    (gateway_pb2.RecommendRequest(user_id=1, external_user_id="bob"), "external_user_id", "not both"),
    (gateway_pb2.RecommendRequest(external_user_id="x" * 200), "external_user_id", "printable"),
    (gateway_pb2.ExplainRequest(user_id=1, external_item_id="nope"), "external_item_id", "unknown item"),
    (gateway_pb2.ExplainRequest(user_id=1, item_id=2, external_item_id="v0"), "external_item_id", "not both"),
])
def test_bad_external_ids_name_the_field(request_, field, match):
    call = IDS.recommend if isinstance(request_, gateway_pb2.RecommendRequest) else IDS.explain
    with pytest.raises(InvalidArgument, match=match) as err:
        call(request_)
    assert err.value.field == field


def test_external_ids_without_a_map_and_in_events_name_the_field():
    with pytest.raises(InvalidArgument, match="no GATEWAY_ID_MAP") as err:
        ExternalIds(None).recommend(gateway_pb2.RecommendRequest(external_user_id="bob"))
    assert err.value.field == "external_user_id"
    with pytest.raises(InvalidArgument) as err:
        IDS.events([common_pb2.Event(event_id="a", user_id=1, item_id=1),
                    common_pb2.Event(event_id="b", user_id=1, external_item_id="zzz")])
    assert err.value.field == "events[1].external_item_id"
