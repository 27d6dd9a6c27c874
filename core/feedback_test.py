from recsys.v1 import common_pb2

from core.feedback import EventKind, hot_score, is_engaged


def test_event_kinds_mirror_the_proto_enum():
    proto = {n.removeprefix("EVENT_TYPE_"): v for n, v in common_pb2.EventType.items() if v}
    assert proto == {k.name: k.value for k in EventKind}


def test_engagement_and_hot_scores():
    assert is_engaged(EventKind.LIKE, 0, None)
    assert is_engaged(EventKind.VIEW, 6000, 10.0) and not is_engaged(EventKind.VIEW, 4000, 10.0)
    assert is_engaged(EventKind.VIEW, 5000, None) and not is_engaged(EventKind.SKIP, 0, None)
    assert hot_score(EventKind.VIEW, engaged=False) == 0
    assert hot_score(EventKind.SHARE, True) > hot_score(EventKind.LIKE, True) > hot_score(EventKind.VIEW, True)
