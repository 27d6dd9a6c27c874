import numpy as np

from core.items import ItemTable
from core.rank.features import CAT_FEATURES, NUM_FEATURES, SEQ_LEN, assemble, rows_for_user


def table():
    return ItemTable.from_columns(
        item_id=np.array([10, 20, 30]), author_id=np.array([1, 2, 1]), category=np.array([5, 6, 5]),
        duration_s=np.array([12.0, 50.0, 200.0]), publish_ms=np.array([0, 0, 0]),
        region=np.array([1, 2, 1]), log_pop=np.array([1.0, 2.0, 3.0]))


def test_shapes_dtypes_and_cross_features():
    items = table()
    idx = items.index_of(np.array([30, 20, 99]))
    rows = rows_for_user(items, idx, region=1, age_bucket=2, gender=1, device=3, hour=7,
                         recent_items=np.array([10, 99, 20]), followed_authors=np.array([1]),
                         now_ms=86_400_000)
    x = assemble(items, idx, rows)
    assert x["cat"].shape == (3, len(CAT_FEATURES)) and x["cat"].dtype == np.int64
    assert x["num"].shape == (3, len(NUM_FEATURES)) and x["num"].dtype == np.float32
    assert x["seq_items"].shape == (3, SEQ_LEN)
    # sequence: known items only (99 dropped), dense + 1, padded with 0
    assert x["seq_items"][0, :3].tolist() == [1, 2, 0]
    assert x["seq_cats"][0, :2].tolist() == [5, 6]
    num = dict(zip(NUM_FEATURES, x["num"][0]))
    assert num["follows_author"] == 1.0 and num["same_region"] == 1.0
    assert num["seq_category_share"] == 0.5 and num["seq_author_share"] == 0.5
    assert np.isclose(num["item_age_log_days"], np.log1p(1.0))


def test_unknown_items_get_defaults():
    items = table()
    idx = items.index_of(np.array([99]))
    rows = rows_for_user(items, idx, region=0, age_bucket=0, gender=0, device=0, hour=-1,
                         recent_items=np.zeros(0, np.int64), followed_authors=np.zeros(0, np.int64),
                         now_ms=0)
    x = assemble(items, idx, rows)
    cat = dict(zip(CAT_FEATURES, x["cat"][0]))
    assert cat["item"] == 0 and cat["author"] == 0 and cat["hour"] == 0
    assert not np.any(x["num"][0, 2:]) and x["seq_items"].sum() == 0
    # the model's manifest defaults replace the built-in ones
    y = assemble(items, idx, rows, {"duration_s": 100.0, "log_pop": 1.5})
    assert dict(zip(NUM_FEATURES, y["num"][0]))["item_log_pop"] == 1.5
    assert x["cat"][0, CAT_FEATURES.index("duration_bucket")] == 0  # unknown stays code 0


def test_shared_sequence_fast_path_equals_the_general_path():
    import dataclasses

    rng = np.random.default_rng(3)
    n = 300
    items = ItemTable.from_columns(
        item_id=np.arange(1, n + 1), author_id=rng.integers(1, 20, n), category=rng.integers(1, 9, n),
        duration_s=rng.uniform(5, 100, n), publish_ms=rng.integers(0, 10**9, n), region=rng.integers(1, 4, n),
        log_pop=rng.random(n))
    for recent in (rng.choice(n, 25, replace=False) + 1, np.array([5, 5, 7]), np.zeros(0, np.int64)):
        idx = items.index_of(np.r_[rng.choice(n, 60) + 1, 10**6])
        rows = rows_for_user(items, idx, region=2, age_bucket=3, gender=1, device=2, hour=5,
                             recent_items=recent, followed_authors=np.array([3, 4]), now_ms=10**9)
        fast = assemble(items, idx, rows)
        general = assemble(items, idx, dataclasses.replace(rows, shared_sequence=False))
        for key in general:
            np.testing.assert_allclose(fast[key], general[key], rtol=1e-6, err_msg=key)
            assert fast[key].dtype == general[key].dtype and fast[key].flags.c_contiguous
