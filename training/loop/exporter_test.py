import pytest

pa = pytest.importorskip("pyarrow", reason="the loop extra is not installed (pip install -e '.[loop]')")

from training.loop.exporter import dedupe, event_rows, partition_of  # noqa: E402


def test_partition_is_the_arrival_hour_in_utc():
    assert partition_of("1767225600000-0") == ("2026-01-01", "00")
    assert partition_of("1767229199999-3") == ("2026-01-01", "00")
    assert partition_of("1767229200000-0") == ("2026-01-01", "01")


def test_dedupe_keeps_the_first_copy_of_each_stream_id_in_order():
    t = pa.table({"stream_id": ["1-0", "2-0", "1-0", "3-0", "2-0"], "v": [1, 2, 3, 4, 5]})
    kept, dropped = dedupe(t)
    assert kept.column("v").to_pylist() == [1, 2, 4] and dropped == 2


def test_dedupe_of_impressions_is_per_position():
    t = pa.table({"stream_id": ["1-0", "1-0", "1-0"], "position": [1, 2, 1]})
    kept, dropped = dedupe(t)
    assert kept.column("position").to_pylist() == [1, 2] and dropped == 1


def test_event_rows_parse_stream_fields():
    row, = event_rows("5-1", {b"event_id": b"e", b"user_id": b"2", b"item_id": b"3", b"type": b"3",
                              b"watch_ms": b"0", b"ts_ms": b"10", b"author_id": b"4"})
    assert row == {"stream_id": "5-1", "event_id": "e", "user_id": 2, "item_id": 3, "type": 3, "watch_ms": 0,
                   "ts_ms": 10, "author_id": 4}
