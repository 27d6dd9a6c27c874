import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.errors import InvalidArgument
from services.rerank.candidates import Candidates
from services.rerank.policies import NOT_SELECTED, build_policies, choose


def cands(authors, seed=0):
    n = len(authors)
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 4))
    return Candidates(np.arange(1, n + 1), np.sort(rng.random(n))[::-1].astype(np.float32),
                      np.array(authors, np.int64), np.ones(n, np.int64),
                      (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=60), st.integers(1, 30),
       st.sampled_from(["default", "relevance", "diverse"]))
def test_every_item_is_shown_or_removed_with_a_reason(authors, count, name):
    c = cands(authors)
    out = choose(build_policies(), name).apply(c, count)
    shown = out.order.tolist()
    removed = [i for i, _ in out.removed]
    assert len(shown) == len(set(shown)) <= count
    assert sorted(shown + removed) == list(range(len(c)))
    assert len(shown) == min(count, len(c))  # backfill (or no rules) fills the feed
    assert all(r in ("CapPerAuthor", NOT_SELECTED) for _, r in out.removed)


def test_cap_holds_when_there_is_enough_choice():
    c = cands([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4])
    out = choose(build_policies(), "default").apply(c, 8)
    authors = c.author_ids[out.order].tolist()
    assert max(authors.count(a) for a in set(authors)) == 2


def test_unknown_policy_is_invalid_argument():
    with pytest.raises(InvalidArgument) as err:
        choose(build_policies(), "chaos")
    assert err.value.field == "policy"


@pytest.mark.parametrize("spec, match", [
    ('{"default": {"rules": [["Nope", {}]]}}', "unknown rule 'Nope'"),
    ('{"x": {"rules": []}}', "'default' is required"),
    ('{"default": {"mmr_lambda": 3}}', "mmr_lambda"),
])
def test_bad_policy_config_fails_at_start(spec, match):
    with pytest.raises(ValueError, match=match):
        build_policies(spec)
