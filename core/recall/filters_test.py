import numpy as np

from core.recall.filters import DropSeen, apply_filter
from core.recall.merge import merge
from core.store.user_state import UserStateData


def candidates():
    return merge([(0, np.array([1, 2, 3, 4, 5], dtype=np.int64))])


def test_drop_seen_reports_kept_and_removed():
    c = candidates()
    out = apply_filter(DropSeen(), c, UserStateData(seen_items=np.array([2, 4, 99])))
    assert out.kept.item_ids.tolist() == [1, 3, 5]
    assert sorted(out.removed.tolist()) == [2, 4]
    assert len(out.kept) + out.removed.size == len(c)
