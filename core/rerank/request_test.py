import numpy as np

from core.items import ItemTable
from core.rerank.candidates import ChangeKind, ItemSide
from core.rerank.policies import build_policies
from core.rerank.request import rerank

POLICIES = build_policies()


def side(n: int = 8) -> ItemSide:
    ids = np.arange(1, n + 1)
    items = ItemTable.from_columns(item_id=ids, author_id=ids, category=np.r_[[1] * (n // 2), [2] * (n - n // 2)],
                                   duration_s=np.full(n, 30.0), publish_ms=np.zeros(n, np.int64),
                                   region=np.ones(n), log_pop=np.zeros(n))
    v = np.random.default_rng(0).normal(size=(n, 4))
    return ItemSide(items, v / np.linalg.norm(v, axis=1, keepdims=True))


def test_pool_items_that_are_not_candidates_get_rows_after_them():
    ids, scores = np.array([1, 2, 3, 4, 5], np.int64), np.linspace(1, 0.5, 5).astype(np.float32)
    out = rerank(side(), POLICIES["default"], ids, scores, 4, 0, pools={"operations": [7, 2]})
    assert out.item_ids.tolist() == [1, 2, 3, 4, 5, 7]  # 2 is a candidate: no second row
    assert out.scores[-1] == 0 and out.result.removed_rows.max() < 5  # only candidates are "removed"
    inserted = [int(out.item_ids[c.row]) for c in out.result.changes if c.kind == ChangeKind.INSERTED]
    assert inserted == [7] and 7 in out.feed_ids.tolist()


def test_blocked_items_and_the_session_reach_the_policy():
    ids = np.array([1, 2, 3, 4, 5, 6, 7, 8], np.int64)
    scores = np.linspace(1, 0.9, 8).astype(np.float32)
    plain = rerank(side(), POLICIES["default"], ids, scores, 8, 0)
    blocked = rerank(side(), POLICIES["default"], ids, scores, 8, 0, blocked=np.array([1], np.int64))
    assert 1 in plain.feed_ids.tolist() and 1 not in blocked.feed_ids.tolist()
    # a session of category-2 videos (5..8) lifts category 2 to the top
    session = rerank(side(), POLICIES["default"], ids, scores, 8, 0, session_items=np.array([5, 6], np.int64))
    assert session.feed_ids[0] >= 5 and plain.feed_ids[0] == 1
