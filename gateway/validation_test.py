import pytest
from recsys.v1 import common_pb2, gateway_pb2

from core.errors import InvalidArgument
from gateway.validation import parse_events, parse_recommend


def rec(**kw):
    kw.setdefault("user_id", 1)
    kw.setdefault("count", 10)
    return gateway_pb2.RecommendRequest(**kw)


def test_valid_recommend_parses_context():
    inp = parse_recommend(rec(context={"device": "ios", "local_hour": "7", "region": "2"}), 100, 5)
    assert (inp.device, inp.local_hour, inp.region) == (1, 7, 2)


@pytest.mark.parametrize("kw, field", [
    ({"user_id": 0}, "user_id"), ({"user_id": -1}, "user_id"),
    ({"count": 0}, "count"), ({"count": 101}, "count"),
    ({"context": {"mood": "x"}}, "context.mood"),
    ({"context": {"device": "toaster"}}, "context.device"),
    ({"context": {"local_hour": "noon"}}, "context.local_hour"),
    ({"context": {"region": "9"}}, "context.region"),
    ({"context": {"device": "i" * 100}}, "context.device"),
])
def test_bad_recommend_names_the_field(kw, field):
    with pytest.raises(InvalidArgument) as err:
        parse_recommend(rec(**kw), 100, 5)
    assert err.value.field == field


def ev(**kw):
    base = dict(event_id="e1", user_id=1, item_id=2, type=common_pb2.EVENT_TYPE_LIKE)
    base.update(kw)
    return common_pb2.Event(**base)


def test_valid_events_parse():
    out = parse_events([ev(), ev(event_id="e2", type=common_pb2.EVENT_TYPE_VIEW, watch_ms=3000),
                        ev(event_id="e3", item_id=0, author_id=4, type=common_pb2.EVENT_TYPE_FOLLOW)], 10)
    assert [e.event_id for e in out] == ["e1", "e2", "e3"]


@pytest.mark.parametrize("kw, field", [
    ({"event_id": ""}, "events[1].event_id"), ({"event_id": "x" * 200}, "events[1].event_id"),
    ({"event_id": "bad\nid"}, "events[1].event_id"),
    ({"user_id": 0}, "events[1].user_id"), ({"type": 0}, "events[1].type"),
    ({"type": 77}, "events[1].type"), ({"item_id": 0}, "events[1].item_id"),
    ({"author_id": 3}, "events[1].author_id"), ({"watch_ms": 5}, "events[1].watch_ms"),
    ({"type": common_pb2.EVENT_TYPE_VIEW, "watch_ms": -1}, "events[1].watch_ms"),
    ({"ts_ms": -5}, "events[1].ts_ms"),
])
def test_one_bad_event_rejects_the_batch_naming_it(kw, field):
    with pytest.raises(InvalidArgument) as err:
        parse_events([ev(event_id="ok"), ev(**kw)], 10)
    assert err.value.field == field


def test_batch_size_limits():
    with pytest.raises(InvalidArgument, match="events"):
        parse_events([], 10)
    with pytest.raises(InvalidArgument, match="events"):
        parse_events([ev(event_id=str(i)) for i in range(11)], 10)
