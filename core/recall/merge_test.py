import numpy as np

from core.recall.merge import RRF_K, merge


def ids(*xs):
    return np.array(xs, dtype=np.int64)


def test_merge_fuses_dedups_and_keeps_provenance():
    out = merge([(0, ids(10, 11, 12)), (1, ids(12, 13))])
    assert sorted(out.item_ids.tolist()) == [10, 11, 12, 13]
    mask = dict(zip(out.item_ids.tolist(), out.channel_mask.tolist()))
    assert mask == {10: 0b01, 11: 0b01, 12: 0b11, 13: 0b10}
    # 12 was found by both channels: it outranks everything found by one.
    assert out.item_ids[0] == 12
    assert np.isclose(out.scores[0], 1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert np.all(np.diff(out.scores) <= 0)


def test_exact_ties_are_broken_deterministically():
    # Both items are first in one channel: same score, same channel count -> smaller id first.
    out = merge([(0, ids(5)), (1, ids(3))])
    assert out.item_ids.tolist() == [3, 5]


def test_weights_scale_a_channel():
    out = merge([(0, ids(1)), (1, ids(2))], weights=[1.0, 2.0])
    assert out.item_ids.tolist() == [2, 1]


def test_empty_inputs():
    out = merge([(0, ids()), (1, ids())])
    assert len(out) == 0 and out.channel_mask.dtype == np.uint32
