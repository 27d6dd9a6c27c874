import numpy as np

from core.store.user_state import UserStateData
from services.common.convert import state_from_proto, state_to_proto


def test_the_state_round_trips_and_the_watched_views_travel_only_when_asked_for():
    state = UserStateData(known=True, recent_items=np.array([4, 2]), seen_items=np.array([4, 2, 9]),
                          session_items=np.array([4]), watched_items=np.array([9, 4]),
                          watched_ms=np.array([300, 8_000]), watched_ts_ms=np.array([20, 10]), region=3)
    plain = state_to_proto(state)
    assert not plain.watched_items and not plain.watched_ms and not plain.watched_ts_ms  # recall's copy
    back = state_from_proto(state_to_proto(state, watched=True))
    for name in ("recent_items", "seen_items", "session_items", "watched_items", "watched_ms", "watched_ts_ms"):
        np.testing.assert_array_equal(getattr(back, name), getattr(state, name))
    assert back.known and back.region == 3
