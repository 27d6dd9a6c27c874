import numpy as np
import pytest

from core.items import ItemTable, all_distinct


def table(ids):
    z = np.zeros(len(ids))
    return ItemTable.from_columns(item_id=np.array(ids), author_id=z, category=z, duration_s=z,
                                  publish_ms=z, region=z, log_pop=z)


def test_index_of_maps_ids_and_marks_unknown():
    t = table([5, 2, 9])
    assert t.index_of(np.array([2, 9, 5, 3, 100, -1, 0])).tolist() == [1, 2, 0, -1, -1, -1, -1]


def test_save_load_roundtrip(tmp_path):
    t = table([1, 2, 3])
    t.save(tmp_path / "items.npz")
    assert ItemTable.load(tmp_path / "items.npz").item_id.tolist() == [1, 2, 3]


def test_rejects_bad_tables():
    with pytest.raises(ValueError, match=">= 1"):
        table([0, 1])
    with pytest.raises(ValueError, match="lacks columns"):
        ItemTable.from_columns(item_id=np.array([1]))


def test_positions_finds_each_needle_or_answers_minus_one():
    from core.items import positions
    hay = np.array([30, 10, 20, 10, 99], dtype=np.int64)
    assert positions(hay, np.array([10, 99, 5, 30, 100])).tolist() == [1, 4, -1, 0, -1]
    assert positions(np.zeros(0, np.int64), np.array([1])).tolist() == [-1]
    assert positions(hay, np.zeros(0, np.int64)).tolist() == []


def test_all_distinct_finds_any_repeat():
    rng = np.random.default_rng(0)
    ids = rng.permutation(5000)[:1000].astype(np.int64)
    assert all_distinct(ids) and all_distinct(ids[:1]) and all_distinct(ids[:0])
    for i, j in [(0, 999), (500, 501), (3, 3 + 1)]:
        dup = ids.copy()
        dup[j] = dup[i]
        assert not all_distinct(dup)
