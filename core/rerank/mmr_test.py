import numpy as np
import pytest

from core.rerank.mmr import mmr_select


def unit(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_lambda_one_is_relevance_order():
    rng = np.random.default_rng(0)
    rel = rng.random(30)
    vecs = unit(rng.normal(size=(30, 8)))
    assert mmr_select(rel, vecs, 10, 1.0).tolist() == np.argsort(-rel)[:10].tolist()


def test_lower_lambda_prefers_a_dissimilar_second_item():
    rel = np.array([1.0, 0.99, 0.5])
    vecs = unit(np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]]))
    assert mmr_select(rel, vecs, 2, 1.0).tolist() == [0, 1]
    assert mmr_select(rel, vecs, 2, 0.5).tolist() == [0, 2]


def test_bounds_and_validation():
    vecs = unit(np.ones((3, 2)))
    assert mmr_select(np.ones(3), vecs, 10, 0.7).size == 3
    assert mmr_select(np.ones(3), vecs, 0, 0.7).size == 0
    with pytest.raises(ValueError):
        mmr_select(np.ones(3), vecs, 2, 1.5)
