import numpy as np

from core.bucketing import bucket, in_share


def test_stable_and_in_range():
    assert bucket(42) == bucket(42) and 0 <= bucket(42) < 10_000
    assert bucket(42, "a") != bucket(42, "b") or bucket(43, "a") != bucket(43, "b")


def test_share_is_close_to_the_setting_over_10k_users():
    for percent in (1, 10, 25, 50):
        share = np.mean([in_share(u, percent, "canary") for u in range(1, 10_001)]) * 100
        assert abs(share - percent) <= 3


def test_edges():
    assert not any(in_share(u, 0) for u in range(1000))
    assert all(in_share(u, 100) for u in range(1000))
