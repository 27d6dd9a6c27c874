"""The nightly item-CF: history + the exported engaged events, on the catalog grown by uploads."""
import numpy as np
import pytest

from core.feedback import EventKind
from core.items import ItemTable
from core.recall.channels.mf import MFModel
from core.recall.neighbor_table import NeighborTable
from core.store.catalog_log import CatalogItem

pytest.importorskip("pyarrow", reason="the loop extra is not installed (pip install -e '.[loop]')")
from training.loop.recall import retrain_item_cf  # noqa: E402


def test_an_upload_engaged_next_to_an_old_video_becomes_its_neighbour(tmp_path):
    import pyarrow as pa

    from core.registry.reader import Registry
    from training.loop.exporter import EVENT_SCHEMA, Sink
    from training.publish import publish

    n = 6
    items = ItemTable.from_columns(item_id=np.arange(1, n + 1), author_id=np.ones(n, np.int64),
                                   category=np.ones(n, np.int64), duration_s=np.full(n, 10, np.float32),
                                   publish_ms=np.zeros(n, np.int64), region=np.ones(n, np.int64),
                                   log_pop=np.zeros(n, np.float32))
    items.save(tmp_path / "items.npz")
    NeighborTable.from_dense(np.full((n, 3), -1, np.int64), np.zeros((n, 3), np.float32)).save(
        tmp_path / "neighbors.npz")
    mf_doc = MFModel.build(np.random.default_rng(0).normal(size=(n, 4)), 10.0, 0.1, 0.2).save(tmp_path)
    publish(tmp_path / "models", "item_cf", {"items.npz": tmp_path / "items.npz",
                                             "neighbors.npz": tmp_path / "neighbors.npz",
                                             **MFModel.files(tmp_path)},
            {"kind": "item_cf", "params": {"window": 5, "k": 3}, "mf": mf_doc}, make_live=True)
    # history: users 1-3 engaged 1 then 2
    history = (np.array([1, 1, 2, 2, 3, 3]), np.array([1, 2, 1, 2, 1, 2]), np.array([1, 2, 1, 2, 1, 2]))
    # the logs: users 4-5 watched video 3 then the upload 100 to the end; a short view does not count
    events = []
    for u in (4, 5):
        for k, (item, watch) in enumerate(((3, 10_000), (100, 20_000), (4, 1_000))):
            events.append({"stream_id": f"{1000 + k}-{u}", "event_id": f"e{u}-{k}", "user_id": u, "item_id": item,
                           "type": int(EventKind.VIEW), "watch_ms": watch, "ts_ms": 1000 + k, "author_id": 0})
    sink = Sink(tmp_path / "logs")
    sink.write(pa.Table.from_pylist(events, schema=EVENT_SCHEMA),
               sink.path("events", "day=2026-01-01", "hour=00", "part-a.parquet"))
    upload = CatalogItem(100, 2, 1, 20.0, 500, 1)
    version = retrain_item_cf(tmp_path / "models", str(tmp_path / "logs"), history, [upload])
    registry = Registry(tmp_path / "models")
    assert registry.live_version("item_cf") == version == "v0002"
    mv = registry.open("item_cf", version)
    table, grown = NeighborTable.load(mv.file("neighbors.npz")), ItemTable.load(mv.file("items.npz"))
    assert grown.item_id.tolist() == [1, 2, 3, 4, 5, 6, 100]
    new = grown.index_of(np.array([100]))[0]
    assert grown.item_id[table.row(new)[0]].tolist() == [3]
    assert grown.item_id[table.row(grown.index_of(np.array([1]))[0])[0]].tolist() == [2]
    assert table.row(grown.index_of(np.array([4]))[0])[0].size == 0  # the short view is not engagement
    assert mv.manifest["loop"]["logged_rows"] == 4 and mv.manifest["loop"]["history_rows"] == 6
    # the mf factors are refit on the same engagement, the upload included
    mf = MFModel.load(mv)
    assert mf.factors.shape == (7, 4) and mf.impression_weight == 0.0
    assert np.abs(mf.factors[new]).sum() > 0
