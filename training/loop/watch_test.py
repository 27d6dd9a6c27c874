"""The nightly watch model: the history plus the exported views, on the grown catalog."""
import numpy as np
import pytest

from core.feedback import EventKind
from core.items import ItemTable

pytest.importorskip("pyarrow", reason="the loop extra is not installed (pip install -e '.[loop]')")
from training.loop.dataset import Spec  # noqa: E402
from training.loop.watch import refit, view_events  # noqa: E402


def test_an_upload_watched_in_the_loop_gets_factors_and_users_keep_theirs(tmp_path):
    import pyarrow as pa

    from training.loop.exporter import EVENT_SCHEMA, Sink

    n = 5
    items = ItemTable.from_columns(item_id=np.array([1, 2, 3, 4, 100]), author_id=np.ones(n, np.int64),
                                   category=np.ones(n, np.int64), duration_s=np.full(n, 10, np.float32),
                                   publish_ms=np.zeros(n, np.int64), region=np.ones(n, np.int64),
                                   log_pop=np.zeros(n, np.float32))
    # history: users 1-4 watched videos 1-4, users 1-2 to the end of 1 and 2, users 3-4 of 3 and 4
    rng = np.random.default_rng(0)
    hist = [(u, i, (10_500 if (u <= 2) == (i <= 2) else 500) + int(rng.integers(0, 100)), 1000)
            for u in (1, 2, 3, 4) for i in (1, 2, 3, 4)]
    history = tuple(np.array(c, np.int64) for c in zip(*hist))
    # the logs: users 1 and 2 watched the upload 100 to the end, 3 and 4 skipped it; a like is no view
    events = [{"stream_id": f"{1000 + u}-0", "event_id": f"v{u}", "user_id": u, "item_id": 100,
               "type": int(EventKind.VIEW), "watch_ms": 10_500 if u <= 2 else 300, "ts_ms": 1000, "author_id": 0}
              for u in (1, 2, 3, 4)]
    events.append({"stream_id": "2000-0", "event_id": "l1", "user_id": 1, "item_id": 100,
                   "type": int(EventKind.LIKE), "watch_ms": 0, "ts_ms": 1001, "author_id": 0})
    sink = Sink(tmp_path / "logs")
    sink.write(pa.Table.from_pylist(events, schema=EVENT_SCHEMA),
               sink.path("events", "day=2026-01-01", "hour=00", "part-a.parquet"))
    assert view_events(str(tmp_path / "logs"))[1].tolist() == [100] * 4
    assert view_events(str(tmp_path / "logs"), Spec("", "", clock_offset_ms=400))[3].tolist() == [600] * 4
    model = refit(history, str(tmp_path / "logs"), items)
    assert model.user_ids.tolist() == [1, 2, 3, 4]
    upload = items.index_of(np.array([100]))
    first, second = model.score(1, upload)[0], model.score(3, upload)[0]
    assert first > second  # learned from the loop's views: the upload is user 1's kind of video
    assert model.score(1, items.index_of(np.array([1])))[0] > model.score(1, items.index_of(np.array([3])))[0]
