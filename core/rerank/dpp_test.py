import itertools

import numpy as np
import pytest

from core.rerank.dpp import _greedy, _greedy_windowed, dpp_kernel, dpp_select


def unit(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def naive_greedy(kernel, count):
    chosen = []
    for _ in range(count):
        best, best_val = None, -np.inf
        for i in range(kernel.shape[0]):
            if i in chosen:
                continue
            sign, logdet = np.linalg.slogdet(kernel[np.ix_(chosen + [i], chosen + [i])])
            if sign > 0 and logdet > best_val:
                best, best_val = i, logdet
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("seed", range(8))
def test_fast_greedy_equals_greedy_on_explicit_determinants(seed):
    rng = np.random.default_rng(seed)
    n, k = 9, 4
    rel, vecs = rng.random(n), unit(rng.normal(size=(n, 5)))
    kernel = dpp_kernel(rel, vecs, 0.6)
    assert dpp_select(rel, vecs, k, 0.6).tolist() == naive_greedy(kernel, k)


@pytest.mark.parametrize("seed", range(5))
def test_greedy_is_close_to_the_exact_map(seed):
    rng = np.random.default_rng(seed)
    n, k = 8, 3
    rel, vecs = rng.random(n), unit(rng.normal(size=(n, 4)))
    kernel = dpp_kernel(rel, vecs, 0.6)
    best = max(np.linalg.slogdet(kernel[np.ix_(s, s)])[1] for s in itertools.combinations(range(n), k))
    picks = dpp_select(rel, vecs, k, 0.6).tolist()
    got = np.linalg.slogdet(kernel[np.ix_(picks, picks)])[1]
    # Greedy MAP is a (1 - 1/e)-style approximation; on small inputs it is at or near the optimum.
    assert got >= best - 0.5


def test_diversity_beats_duplicates():
    rel = np.array([1.0, 0.99, 0.98, 0.5])
    vecs = unit(np.array([[1.0, 0.0], [1.0, 0.001], [1.0, 0.002], [0.0, 1.0]]))
    picks = dpp_select(rel, vecs, 2, 0.5).tolist()
    assert picks[0] == 0 and picks[1] == 3


def test_windowed_matches_full_when_the_window_covers_everything_and_never_repeats():
    rng = np.random.default_rng(1)
    rel, vecs = rng.random(40), unit(rng.normal(size=(40, 6)))
    kernel = dpp_kernel(rel, vecs, 0.7)
    # a window as long as the feed remembers everything: the same picks as the full method
    assert _greedy_windowed(kernel, 10, window=10) == _greedy(kernel, 10)
    win = dpp_select(rel, vecs, 30, 0.7, window=5)
    assert len(set(win.tolist())) == win.size == 30


def test_bounds_and_validation():
    vecs = unit(np.ones((3, 2)))
    assert dpp_select(np.ones(3), vecs, 0).size == 0
    assert dpp_select(np.array([0.3, 0.2, 0.1]), vecs, 10).size >= 1
    with pytest.raises(ValueError):
        dpp_select(np.ones(3), vecs, 2, theta=1.0)
