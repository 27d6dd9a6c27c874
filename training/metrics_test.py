import numpy as np
import pytest

from training.metrics import auc, gauc, hit_rate_at_k, ndcg_at_k, recall_at_k


def test_auc_known_values():
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auc(np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.3, 0.4])) == 0.0
    assert auc(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert np.isnan(auc(np.array([1, 1]), np.array([0.1, 0.2])))


def test_gauc_weights_groups_and_skips_single_class_groups():
    groups = np.array([1, 1, 2, 2, 3])
    labels = np.array([0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.9, 0.2, 0.8, 0.5])
    assert gauc(groups, labels, scores) == 0.5  # group 1: 1.0, group 2: 0.0, group 3 skipped


def test_recall_at_k():
    top = np.array([[1, 2, 3], [4, 5, 6]])
    assert recall_at_k(top, [np.array([1, 9]), np.array([4, 5])]) == 0.75


def test_ndcg_recall_hitrate_agree_with_ranx():
    """Our ranking metrics against an independent implementation (ranx), on random lists."""
    ranx = pytest.importorskip("ranx")
    rng = np.random.default_rng(3)
    tops, truths = [], []
    for _ in range(60):
        tops.append(rng.choice(200, rng.integers(5, 40), replace=False))
        truths.append(np.unique(rng.choice(200, rng.integers(1, 12))))
    qrels = ranx.Qrels({f"u{i}": {f"i{t}": 1 for t in truth.tolist()} for i, truth in enumerate(truths)})
    # ranx orders by score: the list's rank order as descending scores
    run = ranx.Run({f"u{i}": {f"i{x}": float(len(top) - r) for r, x in enumerate(top.tolist())}
                    for i, top in enumerate(tops)})
    want = ranx.evaluate(qrels, run, ["ndcg@10", "recall@20", "hit_rate@10"])
    assert ndcg_at_k(tops, truths, 10) == pytest.approx(want["ndcg@10"], abs=1e-9)
    assert recall_at_k([t[:20] for t in tops], truths) == pytest.approx(want["recall@20"], abs=1e-9)
    assert hit_rate_at_k(tops, truths, 10) == pytest.approx(want["hit_rate@10"], abs=1e-9)
