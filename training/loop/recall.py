"""Nightly item-CF: the item-to-item table rebuilt from the history plus the system's own logs.

The recall channels' versions are built once, from the legacy log. In the learning loop that
measurably starves item-CF (training/loop/run.py): its neighbours are the items a user already
saw (the seen filter drops them) and it knows none of the videos published since, so its share
of the shown items fell from 17% on day 1 to under 1% on day 4. Each night this rebuilds the
table (training/item_cf.py, the same code `make train` runs) over

* the history window: engagement rows the live version was built from (passed in: the world's
  legacy log in the loop, the offline dataset elsewhere), and
* every engaged event the exporter wrote (views over half the video, likes, shares, ...;
  core/feedback.py), in catalog time,

on the live version's item table grown by the videos published online (core/rank/online_items),
so an upload engaged today has neighbours tomorrow; the mf channel's ALS factors, which live in
the same version, are refit on the same engagement. Published live at once: the recall service
follows the alias file; recall versions have no canary of their own (their effect is measured
by the day's arms, not gated).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from core.feedback import EventKind, is_engaged
from core.items import ItemTable
from core.rank.online_items import extend_items
from core.recall.channels.mf import MFModel
from core.registry.reader import Registry
from core.store.catalog_log import CatalogItem
from training import baselines, item_cf, mf
from training.loop.dataset import Spec
from training.loop.exporter import read_exported
from training.publish import copy_version

MODEL = "item_cf"


def engaged_events(logs: str, items: ItemTable, clock: Spec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user ids, item ids, catalog ms) of the exported engaged events."""
    table, _ = read_exported(logs, "events", columns=["stream_id", "user_id", "item_id", "type", "watch_ms", "ts_ms"])
    if table.num_rows == 0:
        return (np.zeros(0, np.int64),) * 3
    user, item = table.column("user_id").to_numpy(), table.column("item_id").to_numpy()
    kind, watch = table.column("type").to_numpy(), table.column("watch_ms").to_numpy()
    ts = table.column("ts_ms").to_numpy()
    idx = items.index_of(item)
    dur = np.where(idx >= 0, items.duration_s[np.maximum(idx, 0)], 0.0)
    valid = {k.value for k in EventKind}
    keep = np.array([int(k) in valid and is_engaged(EventKind(int(k)), int(w), float(d) or None)
                     for k, w, d in zip(kind, watch, dur)], dtype=bool) & (idx >= 0)
    return user[keep], item[keep], ts[keep] - clock.offsets_at(ts[keep])


def retrain_item_cf(registry_root: Path, logs: str, history: tuple[np.ndarray, np.ndarray, np.ndarray],
                    online_items: list[CatalogItem] | None = None, clock: Spec | None = None) -> str:
    """Rebuild and publish (live) the item-CF table; returns the new version. `history`:
    (user ids, item ids, catalog ms) of the engagement the window keeps."""
    registry = Registry(registry_root)
    mv = registry.open(MODEL, registry.live_version(MODEL))
    items = extend_items(ItemTable.load(mv.file("items.npz")), online_items or [])
    clock = clock or Spec(logs, "")
    users, ids, ts = engaged_events(logs, items, clock)
    users = np.concatenate([np.asarray(history[0], np.int64), users])
    ids = np.concatenate([np.asarray(history[1], np.int64), ids])
    ts = np.concatenate([np.asarray(history[2], np.int64), ts])
    idx = items.index_of(ids)
    known = idx >= 0
    params = mv.manifest.get("params", {})
    table = item_cf.build(users[known], idx[known], ts[known], len(items), window=int(params.get("window", 5)),
                          k=int(params.get("k", 50)) or 50)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        table.save(tmp / "neighbors.npz")
        items.save(tmp / "items.npz")
        files = {"neighbors.npz": tmp / "neighbors.npz", "items.npz": tmp / "items.npz"}
        body = {"loop": {"parent": mv.version, "history_rows": int(len(history[0])),
                         "logged_rows": int(known[len(history[0]):].sum()), "items": len(items)},
                "data_range": {"start_ms": int(ts.min(initial=0)), "end_ms": int(ts.max(initial=0))}}
        parent_mf = MFModel.of(mv)
        if parent_mf is not None:  # the mf factors: refit on the same engagement
            body["mf"] = refit_mf(parent_mf, users[known], idx[known], len(items)).save(tmp)
            files |= MFModel.files(tmp)
        return copy_version(registry_root, mv, files, body, make_live=True)


def refit_mf(parent: MFModel, users: np.ndarray, idx: np.ndarray, n_items: int) -> MFModel:
    """ALS with the parent's settings over engaged (user, dense item) pairs, every item of the
    grown table included (an upload engaged today gets a factor). The loop's window holds
    engagement only, so the refit weighs no impressions (impression_weight 0, here and at
    fold-in)."""
    _, dense_users = np.unique(users, return_inverse=True)
    rows = baselines.Interactions(dense_users, idx, np.zeros(idx.size, np.int64), np.ones(idx.size, bool),
                                  int(dense_users.max(initial=-1)) + 1, n_items)
    params = {"factors": parent.factors.shape[1], "regularization": parent.regularization,
              "alpha": parent.alpha, "impression_weight": 0.0}
    return mf.fit(rows, params)
