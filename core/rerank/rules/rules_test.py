"""Each rule's contract, directly (no policy around it)."""
import numpy as np
import pytest

from core.rerank.candidates import Operations
from core.rerank.rules import (
    BoostItems,
    CapPerAuthor,
    DropBlockedItems,
    DropNearDuplicates,
    InsertFreshSlots,
    InsertOperationSlots,
    SpreadCategories,
)
from core.rerank.testing import make_candidates

FILTERS = [CapPerAuthor(2), DropBlockedItems([3, 4]), DropNearDuplicates(0.9)]


@pytest.mark.parametrize("rule", FILTERS, ids=lambda r: r.name)
def test_filters_return_one_flag_per_input(rule):
    c = make_candidates([7, 7, 8, 7, 8, 8, 0, 0, 0])
    keep = rule.keep_mask(c, Operations(blocked=np.array([9])))
    assert keep.dtype == bool and keep.shape == (len(c),)


def test_cap_per_author_keeps_the_best_ranked_of_each_author():
    c = make_candidates([7, 7, 8, 7, 8, 8, 0, 0, 0])
    keep = CapPerAuthor(2).keep_mask(c, Operations())
    assert np.flatnonzero(keep).tolist() == [0, 1, 2, 4, 6, 7, 8]  # author 0 = unknown, uncapped
    with pytest.raises(ValueError):
        CapPerAuthor(0)


def test_drop_blocked_merges_config_and_request_lists():
    c = make_candidates([1] * 6)
    keep = DropBlockedItems([2]).keep_mask(c, Operations(blocked=np.array([5, 99])))
    assert c.item_ids[~keep].tolist() == [2, 5]


def test_drop_near_duplicates_keeps_the_first_of_each_cluster():
    c = make_candidates([1, 2, 3, 4])
    vecs = np.array([[1, 0], [1, 0.01], [0, 1], [0.01, 1]], np.float32)
    c = type(c)(c.item_ids, c.scores, c.author_ids, c.categories,
                vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    assert DropNearDuplicates(0.99).keep_mask(c, Operations()).tolist() == [True, False, True, False]


def test_boost_is_bounded_and_leaves_others_alone():
    c = make_candidates([1, 2, 3])
    scores = np.array([1.0, 1.0, 1.0])
    out = BoostItems(max_boost=2.0).adjust(scores, c, Operations(boosts={1: 10.0, 2: 0.1}))
    assert out.tolist() == [2.0, 0.5, 1.0]
    with pytest.raises(ValueError):
        BoostItems(0.5)


def test_spread_categories_holds_the_window_constraint():
    c = make_candidates([1] * 8, categories=[1, 1, 1, 1, 2, 2, 3, 3])
    arr = SpreadCategories(max_per_window=1, window=2).arrange([0, 1, 2, 3], [4, 5, 6, 7], c)
    cats = c.categories[arr.feed].tolist()
    assert len(arr.feed) == 4 and all(a != b for a, b in zip(cats, cats[1:]))
    assert set(arr.dropped) | set(arr.feed) >= {0, 1, 2, 3}
    assert arr.feed[0] == 0  # the best item keeps its place


def test_spread_categories_strict_drops_and_soft_keeps_the_feed_full():
    c = make_candidates([1] * 4, categories=[1, 1, 1, 1])
    strict = SpreadCategories(max_per_window=1, window=2).arrange([0, 1, 2], [3], c)
    soft = SpreadCategories(max_per_window=1, window=2, strict=False).arrange([0, 1, 2], [3], c)
    assert strict.feed == [0] and strict.dropped == [1, 2]
    assert soft.feed == [0, 1, 2] and soft.dropped == []


def test_slot_pools():
    hour = 3_600_000
    c = make_candidates([1] * 5, publish_ms=[0, 0, 10 * hour, 0, 10.5 * hour])
    pools = {"operations": [7, 8]}
    assert InsertOperationSlots([0], "operations").pool_rows(c, Operations(), pools) == [7, 8]
    fresh = InsertFreshSlots([2], max_age_h=2).pool_rows(c, Operations(now_ms=11 * hour), {"fresh": [9]})
    assert fresh == [9, 2, 4]  # request pool first, then young candidates by score
    with pytest.raises(ValueError):
        InsertFreshSlots([-1])


def test_session_categories_boost_follows_the_share_of_the_session():
    from core.rerank.rules.boost_session_categories import BoostSessionCategories, session_categories
    shares = session_categories(np.array([3, 3, 5, 0]))  # unknown (0) skipped
    assert shares == {3: 2 / 3, 5: 1 / 3}
    c = make_candidates([1, 2, 3], categories=[3, 5, 7])
    scores = np.ones(3, np.float32)
    out = BoostSessionCategories(strength=1.5).adjust(scores, c, Operations(session_categories=shares))
    assert np.allclose(out, [1 + 1.5 * 2 / 3, 1 + 1.5 / 3, 1.0])
    assert np.array_equal(BoostSessionCategories().adjust(scores, c, Operations()), scores)
    with pytest.raises(ValueError, match="strength"):
        BoostSessionCategories(strength=-1)


def test_boosts_lift_negative_scores_too():
    """A fused score may be negative (a watch score, a negative hate weight): a boost lifts the
    relevance above the lowest score, never pushes an item down."""
    from core.rerank.rules.boost_session_categories import BoostSessionCategories
    c = make_candidates([1, 2, 3], categories=[3, 5, 7])
    scores = np.array([-0.2, -0.5, -1.0], np.float32)
    out = BoostSessionCategories(strength=1.0).adjust(scores, c, Operations(session_categories={5: 1.0}))
    np.testing.assert_allclose(out, [-0.2, -1.0 + 0.5 * 2, -1.0])  # item 2 above item 1 now
    campaign = BoostItems(max_boost=2.0).adjust(scores, c, Operations(boosts={2: 2.0, 1: 0.5}))
    np.testing.assert_allclose(campaign, [-1.0 + 0.8 * 0.5, 0.0, -1.0])
