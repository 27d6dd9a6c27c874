"""One suite for every rule registered by name and every filter of the funnel.

The contracts (core/filter.py, core/rerank/rules/base.py): a `Filter` returns one bool per
candidate and depends on nothing but each candidate and the context (so kept + removed is the
input, in order); a `Booster` returns one finite score per input, same order; an `Arranger`
returns a feed drawn from the feed and the spares without repeats, reporting every drop; an
`Inserter` offers its own pool's rows first, never another pool's. A new rule joins this suite by being registered.
"""
from __future__ import annotations

import numpy as np
import pytest

from core.filter import Filter
from core.items import ItemTable
from core.recall.filters import DropBlockedAuthors, DropSeen, DropUnavailable, apply_filter
from core.recall.live_catalog import LiveCatalog
from core.recall.merge import merge
from core.rerank.candidates import Operations
from core.rerank.rules import RULES, Arranger, Booster, Inserter
from core.rerank.testing import make_candidates
from core.store.user_state import UserStateData

AUTHORS = [7, 7, 8, 7, 8, 8, 0, 0, 0, 9, 9, 9]
CATEGORIES = [1, 1, 1, 2, 2, 1, 3, 3, 1, 1, 2, 2]
OPS = Operations(blocked=np.array([3, 99]), boosts={2: 3.0, 5: 0.5}, now_ms=10**12,
                 session_categories={1: 0.6, 2: 0.4})


def candidates(seed: int = 0):
    return make_candidates(AUTHORS, CATEGORIES, seed=seed, publish_ms=np.full(len(AUTHORS), 10**12))


def rules_of(kind) -> list:
    return [cls() for cls in RULES.values() if issubclass(cls, kind)]


def test_every_registered_rule_has_a_kind_and_its_name():
    kinds = (Filter, Booster, Arranger, Inserter)
    for name, cls in RULES.items():
        assert cls.name == name and issubclass(cls, kinds), name
        assert name[0].isupper() and any(name.startswith(v) for v in (
            "Drop", "Cap", "Boost", "Spread", "Insert")), f"{name}: rule names are verb-first"


@pytest.mark.parametrize("rule", rules_of(Filter), ids=lambda r: r.name)
def test_rerank_filters_flag_each_candidate_on_its_own(rule):
    c = candidates()
    keep = rule.keep_mask(c, OPS)
    assert keep.dtype == bool and keep.shape == (len(c),)
    # A filter's verdict on the kept prefix does not change when later candidates go away:
    # it judges a candidate by itself and the better-ranked ones, never by worse ones.
    n = len(c) // 2
    head = type(c)(c.item_ids[:n], c.scores[:n], c.author_ids[:n], c.categories[:n], c.vectors[:n],
                   None if c.publish_ms is None else c.publish_ms[:n])
    assert rule.keep_mask(head, OPS).tolist() == keep[:n].tolist()


def recall_catalog() -> LiveCatalog:
    n = 12
    return LiveCatalog(ItemTable.from_columns(
        item_id=np.arange(1, n + 1, dtype=np.int64), author_id=np.asarray(AUTHORS, np.int64),
        category=np.asarray(CATEGORIES, np.int64), duration_s=np.full(n, 10.0, np.float32),
        publish_ms=np.zeros(n, np.int64), region=np.ones(n, np.int64), log_pop=np.zeros(n, np.float32)))


RECALL_FILTERS = [DropSeen(), DropBlockedAuthors(recall_catalog()), DropUnavailable(recall_catalog())]


@pytest.mark.parametrize("rule", RECALL_FILTERS, ids=lambda r: r.name)
def test_recall_filters_report_kept_and_removed_in_order(rule):
    merged = merge([(0, np.array([5, 12, 1, 3, 40, 7, 2], np.int64))])
    state = UserStateData(seen_items=np.array([3, 7]), blocked_authors=np.array([9]))
    assert isinstance(rule, Filter)
    out = apply_filter(rule, merged, state)
    kept, removed = out.kept.item_ids.tolist(), out.removed.tolist()
    assert sorted(kept + removed) == sorted(merged.item_ids.tolist())
    order = merged.item_ids.tolist()
    assert kept == [i for i in order if i in kept] and removed == [i for i in order if i in removed]
    assert removed, f"{rule.name} removed nothing from a list built to trip it"


@pytest.mark.parametrize("rule", rules_of(Booster), ids=lambda r: r.name)
def test_boosters_return_one_finite_score_per_input(rule):
    c = candidates()
    scores = c.scores.astype(np.float64)
    out = rule.adjust(scores.copy(), c, OPS)
    assert out.shape == scores.shape and np.all(np.isfinite(out))
    assert np.array_equal(rule.adjust(scores.copy(), c, Operations()), scores) or rule.name != "BoostItems"


@pytest.mark.parametrize("rule", rules_of(Arranger), ids=lambda r: r.name)
def test_arrangers_reorder_without_repeats_and_report_drops(rule):
    c = candidates()
    feed, spare = list(range(6)), list(range(6, len(c)))
    out = rule.arrange(feed, spare, c)
    assert len(set(out.feed)) == len(out.feed)
    assert set(out.feed) <= set(feed) | set(spare)
    assert set(feed) - set(out.feed) <= set(out.dropped)
    assert out.placed <= set(out.feed)


@pytest.mark.parametrize("rule", rules_of(Inserter), ids=lambda r: r.name)
def test_inserters_offer_their_pools_rows_first_and_only_valid_rows(rule):
    c = candidates()
    rows = rule.pool_rows(c, OPS, {rule.pool: [10, 11], "other": [4]})
    assert rows[:2] == [10, 11] and all(0 <= r < len(c) for r in rows)
    assert 4 not in rule.pool_rows(c, Operations(), {"other": [4]})  # another pool's rows: never
    assert all(p >= 0 for p in rule.positions)
