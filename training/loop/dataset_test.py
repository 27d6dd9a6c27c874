"""Point-in-time correctness of the dataset job: no label or feature from after an impression."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.feedback import EventKind
from core.items import ItemTable
from core.rank.features import CAT_FEATURES, NUM_FEATURES

pytest.importorskip("pyarrow", reason="the loop extra is not installed (pip install -e '.[loop]')")
from training.loop.dataset import EVT, IMP, MINUTE_MS, Spec, to_common, user_rows  # noqa: E402

NUM = {n: i for i, n in enumerate(NUM_FEATURES)}


@pytest.fixture
def items_path(tmp_path) -> str:
    n = 10
    table = ItemTable.from_columns(item_id=np.arange(1, n + 1), author_id=np.arange(1, n + 1),
                                   category=np.arange(1, n + 1) % 3 + 1, duration_s=np.full(n, 10.0),
                                   publish_ms=np.zeros(n), region=np.ones(n), log_pop=np.zeros(n))
    path = Path(tmp_path) / "items.npz"
    table.save(path)
    return str(path)


def imp(sid, ts, item, position=1, follows=0):
    return {"stream_id": sid, "user_id": 1, "ts_ms": ts, "item_id": item, "position": position,
            "request_id": f"r-{sid}", "ranker_version": "v0001", "region": 1, "device": 2, "local_hour": -1,
            "age_bucket": 3, "gender": 1, "follows_author": follows}


def evt(sid, ts, item, kind, watch_ms=0):
    return {"stream_id": sid, "user_id": 1, "ts_ms": ts, "item_id": item, "type": int(kind), "watch_ms": watch_ms}


def frame(imps, evts) -> pd.DataFrame:
    return pd.concat([to_common(pd.DataFrame(imps), IMP), to_common(pd.DataFrame(evts), EVT)], ignore_index=True)


def seq_of(row) -> list[int]:
    return [int(i) - 1 for i in row["seq_items"] if i]  # dense index + 1, 0 = padding


def test_labels_and_sequences_are_point_in_time(items_path):
    t = 1_000_000
    imps = [imp("a", t, 5), imp("a", t, 6, position=2),
            imp("b", t + 10 * MINUTE_MS, 7), imp("c", t + 20 * MINUTE_MS, 5)]
    evts = [
        evt("1", t - 1000, 2, EventKind.LIKE),                 # before everything: in every sequence
        evt("2", t + 1000, 5, EventKind.LIKE),                 # item 5's first showing earns it
        evt("3", t + 2000, 6, EventKind.VIEW, watch_ms=9500),  # complete (>= 90% of 10 s) and engaged
        evt("4", t + 10 * MINUTE_MS + 5, 9, EventKind.LIKE),   # after "b": not in b's sequence
        evt("5", t + 20 * MINUTE_MS + 10, 5, EventKind.SHARE),  # item 5's second showing earns it
        evt("6", t + 10 * MINUTE_MS + 31 * MINUTE_MS, 7, EventKind.LIKE),  # beyond b's like window
    ]
    out = user_rows(frame(imps, evts), Spec("", items_path)).to_pandas().set_index(["request_id", "item_id"])
    a5, a6, b7, c5 = out.loc[("r-a", 5)], out.loc[("r-a", 6)], out.loc[("r-b", 7)], out.loc[("r-c", 5)]
    assert (a5["like"], a5["share"]) == (1.0, 0.0)
    assert (c5["like"], c5["share"]) == (0.0, 1.0)
    assert a6["complete"] == 1.0 and a6["like"] == 0.0
    assert b7["like"] == 0.0  # the like came 31 minutes later: outside the window
    # sequences (dense index = item id - 1): only what was engaged strictly before the impression
    assert seq_of(a5) == [1]
    assert seq_of(b7) == [5, 4, 1]                # 6 (completed), 5 (liked), 2 — not 9 (after b)
    assert seq_of(c5) == [8, 5, 4, 1]             # 9 is now before
    # features computed from those sequences (category = id % 3 + 1): item 5 and item 2 share one
    assert a5["num"][NUM["seq_category_share"]] == 1.0 and b7["num"][NUM["seq_category_share"]] == 0.0
    assert a5["cat"][CAT_FEATURES.index("device")] == 2 and a5["cat"][CAT_FEATURES.index("hour")] == 0


def test_replayed_rows_count_once_and_features_use_the_served_follow_flag(items_path):
    t = 5_000_000
    imps = [imp("a", t, 3, follows=1), imp("a", t, 3, follows=1)]  # the same stream entry twice
    evts = [evt("1", t + 10, 3, EventKind.FOLLOW), evt("1", t + 10, 3, EventKind.FOLLOW)]
    out = user_rows(frame(imps, evts), Spec("", items_path)).to_pandas()
    assert len(out) == 1 and out.iloc[0]["follow"] == 1.0
    assert out.iloc[0]["num"][NUM["follows_author"]] == 1.0


def test_window_of_impressions_is_respected(items_path):
    t = 9_000_000
    imps = [imp("a", t, 3), imp("b", t + 100, 4)]
    spec = Spec("", items_path, start_ms=t + 1)
    out = user_rows(frame(imps, [evt("1", t + 50, 3, EventKind.LIKE)]), spec).to_pandas()
    assert out["item_id"].tolist() == [4] and seq_of(out.iloc[0]) == [2]


def test_a_user_without_impressions_in_the_window_gives_an_empty_table_of_the_same_schema(items_path):
    full = user_rows(frame([imp("a", 10, 3)], []), Spec("", items_path))
    empty = user_rows(frame([imp("a", 10, 3)], []), Spec("", items_path, start_ms=11))
    assert full.num_rows == 1 and empty.num_rows == 0 and empty.schema == full.schema


def test_rows_are_counted_in_a_folder_or_at_a_uri(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from training.loop.dataset import count_rows
    pq.write_table(pa.table({"a": [1, 2, 3]}), tmp_path / "part-0.parquet")
    assert count_rows(str(tmp_path)) == count_rows(f"file://{tmp_path}") == 3
    assert count_rows(str(tmp_path / "missing")) == 0


def test_the_catalog_clock_offset_in_force_at_each_impression():
    spec = Spec("logs", "items.npz", clock_offset_ms=1_000, clock_changes=((100, 500), (200, -86_400_000)))
    assert spec.offsets_at(np.array([0, 99, 100, 150, 200, 10**9])).tolist() == [
        1_000, 1_000, 500, 500, -86_400_000, -86_400_000]
    assert Spec("logs", "items.npz", clock_offset_ms=7).offsets_at(np.array([1, 2])).tolist() == [7, 7]
