import numpy as np

from training.evaluate_rerank import ild, ndcg


def test_ndcg():
    assert ndcg(np.array([1, 2, 3]), {1}) == 1.0
    assert ndcg(np.array([5, 6, 7]), {1}) == 0.0
    assert np.isclose(ndcg(np.array([9, 1]), {1}), 1 / np.log2(3))
    assert ndcg(np.array([1, 2]), set()) == 0.0


def test_ild():
    same = np.array([[1.0, 0.0], [1.0, 0.0]])
    orth = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert ild(same) == 0.0 and ild(orth) == 1.0 and ild(same[:1]) == 0.0
