"""Nightly watch model: refit on the history plus every view the system logged.

The ranker's version ships a watch model (core/rank/watch.py, training/watch_mf.py): each
user's long-term taste and each video's appeal, learned from watched fractions. Carried to
the loop's candidates unchanged, it knows none of the videos published since (they score 0,
the average) and nothing the users watched in the loop. Each night this refits it over

* the history: every impression the day-1 version learned from (user, item, watched ms, time
  on the catalog clock; the world's legacy log in the loop), and
* every VIEW event the exporter wrote (one per shown video, with its watched ms; its wall time
  moved onto the catalog clock, so each row's video age is right),

on the candidate's item table (the parent's grown by the videos published online), and the
candidate ships the refit model instead of its parent's.
"""
from __future__ import annotations

import numpy as np

from core.feedback import EventKind
from core.items import ItemTable
from core.rank.watch import WatchModel
from training import watch_mf
from training.loop.dataset import Spec
from training.loop.exporter import read_exported


def view_events(logs: str, clock: Spec | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(user ids, item ids, watched ms, catalog-clock ms) of the exported VIEW events; `clock`
    maps their wall times onto the catalog clock (none: the two are the same)."""
    columns = ["stream_id", "user_id", "item_id", "type", "watch_ms", "ts_ms"]
    table, _ = read_exported(logs, "events", columns=columns)
    if table.num_rows == 0:
        return (np.zeros(0, np.int64),) * 4
    view = table.column("type").to_numpy() == int(EventKind.VIEW)
    user, item, watch, ts = (table.column(c).to_numpy()[view].astype(np.int64) for c in columns[1:] if c != "type")
    return user, item, watch, ts if clock is None else ts - clock.offsets_at(ts)


def refit(history: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], logs: str, items: ItemTable,
          seed: int = 7, clock: Spec | None = None) -> WatchModel | None:
    """The watch model over the history and the logged views (rows of items the table does
    not know are dropped); None without rows."""
    user, item, watch, ts = (np.concatenate([h, x]) for h, x in zip(history, view_events(logs, clock)))
    return watch_mf.fit_log(user, items.index_of(item), watch, items, seed=seed, ts_ms=ts)
