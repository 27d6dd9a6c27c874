import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidArgument
from core.rerank.candidates import ChangeKind, Operations
from core.rerank.policies import NOT_SELECTED, build_policies, choose
from core.rerank.testing import make_candidates

POLICIES = build_policies()
HARD = build_policies(json.dumps({
    "default": {"rules": [["DropBlockedItems", {"items": [1]}], ["DropNearDuplicates", {"threshold": 0.9}],
                          ["CapPerAuthor", {"limit": 2}],
                          ["SpreadCategories", {"max_per_window": 2, "window": 4}]],
                "selector": {"kind": "dpp", "theta": 0.6}},
}))["default"]

lists = st.lists(st.tuples(st.integers(1, 6), st.integers(1, 4)), min_size=1, max_size=60)


def check_partition(c, result, count):
    feed = result.feed
    assert len(feed) == len(set(feed)) <= count
    removed = result.removed_rows.tolist()
    inputs_in_feed = [r for r in feed if r < c.n_input]
    assert sorted(inputs_in_feed + removed) == list(range(c.n_input))
    assert len(result.removed_reasons) == len(removed) and all(result.removed_reasons)
    for ch in result.changes:
        assert ch.reason and feed[ch.to_position - 1] == ch.row


@settings(max_examples=80, deadline=None)
@given(lists, st.integers(1, 30), st.sampled_from(sorted(POLICIES)), st.integers(0, 1000))
def test_every_policy_shows_or_explains_every_item(rows, count, name, seed):
    authors, cats = zip(*rows)
    c = make_candidates(authors, cats, seed=seed)
    check_partition(c, POLICIES[name].apply(c, count), count)


@settings(max_examples=80, deadline=None)
@given(lists, st.integers(1, 30), st.integers(0, 1000))
def test_hard_rules_hold_on_random_lists(rows, count, seed):
    authors, cats = zip(*rows)
    c = make_candidates(authors, cats, seed=seed)
    result = HARD.apply(c, count, Operations(blocked=np.array([2])))
    check_partition(c, result, count)
    feed = result.feed
    ids, fa, fc = c.item_ids[feed].tolist(), c.author_ids[feed].tolist(), c.categories[feed].tolist()
    assert 1 not in ids and 2 not in ids                      # DropBlockedItems (config + request)
    assert all(fa.count(a) <= 2 for a in fa)                  # CapPerAuthor (no backfill)
    for start in range(len(fc)):                              # SpreadCategories
        window = fc[start:start + 4]
        assert all(window.count(x) <= 2 for x in window)
    sims = c.vectors[feed] @ c.vectors[feed].T                # DropNearDuplicates
    assert np.all(sims[np.triu_indices(len(feed), 1)] <= 0.9)


def test_backfill_fills_a_short_feed_with_capped_items():
    c = make_candidates([1, 1, 1, 1, 2], categories=[1, 2, 3, 4, 5])
    result = POLICIES["default"].apply(c, 4)
    assert len(result.feed) == 4
    assert np.sum(c.author_ids[result.feed] == 1) == 3


def test_operations_slots_and_blocked_pool_items():
    c = make_candidates([1, 2, 3, 4, 5, 6], categories=[1, 2, 3, 4, 1, 2])
    c = type(c)(np.r_[c.item_ids, 50, 51], np.r_[c.scores, 0, 0].astype(np.float32),
                np.r_[c.author_ids, 9, 9], np.r_[c.categories, 5, 5],
                np.vstack([c.vectors, c.vectors[:2]]), None, 6)
    ops = Operations(blocked=np.array([50]))
    result = POLICIES["default"].apply(c, 5, ops, {"operations": [6, 7]})  # rows of items 50, 51
    assert c.item_ids[result.feed[2]] == 51  # 50 is blocked: the next pool item takes slot 2
    inserted = [ch for ch in result.changes if ch.kind == ChangeKind.INSERTED]
    assert [(c.item_ids[ch.row], ch.reason, ch.from_position, ch.to_position) for ch in inserted] == \
        [(51, "InsertOperationSlots", 0, 3)]
    check_partition(c, result, 5)


def test_relevance_policy_with_count_keeps_rank_order():
    c = make_candidates([1, 2, 3, 4, 5])
    result = POLICIES["relevance"].apply(c, 3)
    assert result.feed == [0, 1, 2]
    assert result.removed_reasons == [NOT_SELECTED, NOT_SELECTED] and result.changes == []


def test_boosts_move_items_with_a_reason():
    c = make_candidates([1, 2, 3, 4])
    result = POLICIES["default"].apply(c, 4, Operations(boosts={4: 100.0}))
    moved = {int(c.item_ids[ch.row]): ch.reason for ch in result.changes if ch.kind == ChangeKind.MOVED}
    assert moved.get(4) == "BoostItems"


def test_policy_choice_by_request_then_experiment_then_default():
    assert choose(POLICIES, "dpp").name == "dpp"
    assert choose(POLICIES, "", "exp-7", {"exp-7": "diverse"}).name == "diverse"
    assert choose(POLICIES, "", "other", {"exp-7": "diverse"}).name == "default"
    with pytest.raises(InvalidArgument) as err:
        choose(POLICIES, "chaos")
    assert err.value.field == "policy"


@pytest.mark.parametrize("spec, match", [
    ('{"default": {"rules": [["Nope", {}]]}}', "unknown rule 'Nope'"),
    ('{"x": {"rules": []}}', "'default' is required"),
    ('{"default": {"selector": {"kind": "mmr", "lambda": 3}}}', "lambda"),
    ('{"default": {"selector": {"kind": "magic"}}}', "unknown selector kind"),
])
def test_bad_policy_config_fails_at_start(spec, match):
    with pytest.raises(ValueError, match=match):
        build_policies(spec)
