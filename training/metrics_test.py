import numpy as np

from training.metrics import auc, gauc, recall_at_k


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
