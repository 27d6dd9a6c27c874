import numpy as np
import pytest

from services.rerank.candidates import Candidates
from services.rerank.rules import CapPerAuthor


def cands(authors):
    n = len(authors)
    return Candidates(np.arange(1, n + 1), np.linspace(1, 0, n).astype(np.float32),
                      np.array(authors, np.int64), np.ones(n, np.int64), np.zeros((n, 2), np.float32))


def test_keeps_the_best_ranked_items_of_each_author_in_order():
    out = CapPerAuthor(2).apply(cands([7, 7, 8, 7, 8, 8, 0, 0, 0]))
    assert out.kept.tolist() == [0, 1, 2, 4, 6, 7, 8]  # unknown author (0) is not capped
    assert out.removed.tolist() == [3, 5]
    assert out.reason == "CapPerAuthor"
    assert sorted(out.kept.tolist() + out.removed.tolist()) == list(range(9))


def test_limit_must_be_positive():
    with pytest.raises(ValueError):
        CapPerAuthor(0)
