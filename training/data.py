"""From the world's logs to training rows: labels, behaviour sequences, a time-based split.

Every feature of a row is computed from what happened strictly before the row's timestamp,
and the split is by time (train on the past, test on the last `test_days`), so nothing
from the future leaks into training.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from core.feedback import engaged_rows
from core.items import ItemTable
from core.rank.features import SEQ_LEN, UserRows
from training.world import DAY_MS, World

HEADS = ("like", "complete", "share", "follow")
COMPLETE_FRACTION = 0.9


@dataclass
class LogRows:
    """One row per impression, sorted by time."""

    user_idx: np.ndarray   # int64 [N], 0-based
    item_idx: np.ndarray   # int64 [N], dense item index
    ts_ms: np.ndarray      # int64 [N]
    users: UserRows        # features of the user side at the row's time
    labels: np.ndarray     # float32 [N, len(HEADS)]
    engaged: np.ndarray    # bool [N]

    def take(self, mask: np.ndarray) -> LogRows:
        u = self.users
        rows = dataclasses.replace(u, **{f: getattr(u, f)[mask] for f in u.__dataclass_fields__
                                         if isinstance(getattr(u, f), np.ndarray)})
        return LogRows(self.user_idx[mask], self.item_idx[mask], self.ts_ms[mask], rows,
                       self.labels[mask], self.engaged[mask])

    def __len__(self) -> int:
        return int(self.user_idx.size)


@dataclass
class Dataset:
    items: ItemTable
    train: LogRows
    test: LogRows
    cutoff_ms: int
    start_ms: int
    end_ms: int


def engaged_mask(world: World) -> np.ndarray:
    """The one definition of engagement (core/feedback.py), as the event writer applies it."""
    imp, v = world.impressions, world.videos
    return engaged_rows(imp["watch_ms"], v["duration_s"][imp["item_id"] - 1], imp["like"], imp["share"],
                        imp["follow"])


def item_table(world: World, until_ms: int | None = None) -> ItemTable:
    """The item table, with popularity counted on engagement before `until_ms` only."""
    v, imp = world.videos, world.impressions
    engaged = engaged_mask(world)
    if until_ms is not None:
        engaged &= imp["ts_ms"] < until_ms
    counts = np.bincount(imp["item_id"][engaged] - 1, minlength=v["item_id"].size)
    return ItemTable.from_columns(
        item_id=v["item_id"], author_id=v["author_id"], category=v["category"],
        duration_s=v["duration_s"], publish_ms=v["publish_ms"], region=v["region"],
        log_pop=np.log1p(counts).astype(np.float32))


LOOK_BACK = 3 * SEQ_LEN  # engagements scanned per row for SEQ_LEN distinct items


def _sequences(user_idx, item_idx, ts_ms, engaged, n_users) -> np.ndarray:
    """[N, SEQ_LEN] dense indices of each row's user's engaged items strictly before the row,
    newest first and distinct: an item engaged again counts at its latest time only, as in the
    online sequence (the event writer's LREM + LPUSH). Scans the last LOOK_BACK engagements."""
    out = np.full((user_idx.size, SEQ_LEN), -1, dtype=np.int64)
    order = np.lexsort((ts_ms, user_idx))
    bounds = np.searchsorted(user_idx[order], np.arange(n_users + 1))
    steps = np.arange(LOOK_BACK)
    for u in range(n_users):
        rows = order[bounds[u]:bounds[u + 1]]
        if rows.size == 0:
            continue
        pos = rows[engaged[rows]]
        if pos.size == 0:
            continue
        items = item_idx[pos]
        # next_same[j]: the next engagement of the same item after j (len(pos) if none)
        next_same = np.full(pos.size, pos.size, dtype=np.int64)
        by_item = np.lexsort((np.arange(pos.size), items))
        same = items[by_item[1:]] == items[by_item[:-1]]
        next_same[by_item[:-1][same]] = by_item[1:][same]
        n_before = np.searchsorted(ts_ms[pos], ts_ms[rows], side="left")
        idx = n_before[:, None] - 1 - steps[None, :]
        safe = np.maximum(idx, 0)
        # visible: engaged before the row and not engaged again before the row
        visible = (idx >= 0) & (next_same[safe] >= n_before[:, None])
        rank = np.cumsum(visible, axis=1) - 1
        keep = visible & (rank < SEQ_LEN)
        r, c = np.nonzero(keep)
        out[rows[r], rank[r, c]] = items[safe[r, c]]
    return out


def _follows_at(world: World, user_idx, author_id, ts_ms) -> np.ndarray:
    """1.0 where the user already followed the author at the row's time."""
    f = world.follows
    stride = world.config.n_authors + 1
    keys = (f["user_id"] - 1) * stride + f["author_id"]
    order = np.lexsort((f["ts_ms"], keys))
    keys, first_ts = keys[order], f["ts_ms"][order]
    uniq, start = np.unique(keys, return_index=True)
    first_ts = first_ts[start]
    q = user_idx * stride + author_id
    pos = np.clip(np.searchsorted(uniq, q), 0, max(uniq.size - 1, 0))
    if uniq.size == 0:
        return np.zeros(q.size, dtype=np.float32)
    return ((uniq[pos] == q) & (first_ts[pos] <= ts_ms)).astype(np.float32)


def build(world: World, test_days: float | None = None) -> Dataset:
    c = world.config
    test_days = c.test_days if test_days is None else test_days
    imp, users, v = world.impressions, world.users, world.videos
    end_ms = c.end_ms
    cutoff = int(end_ms - test_days * DAY_MS)
    items = item_table(world, until_ms=cutoff)
    user_idx = imp["user_id"] - 1
    item_idx = items.index_of(imp["item_id"])
    ts = imp["ts_ms"]
    engaged = engaged_mask(world)
    duration_ms = v["duration_s"][item_idx] * 1000.0
    labels = np.stack([imp["like"] > 0, imp["watch_ms"] >= COMPLETE_FRACTION * duration_ms,
                       imp["share"] > 0, imp["follow"] > 0], axis=1).astype(np.float32)
    rows = UserRows(
        region=users["region"][user_idx], age_bucket=users["age_bucket"][user_idx],
        gender=users["gender"][user_idx], device=imp["device"],
        hour=(ts // 3_600_000) % 24,
        seq_idx=_sequences(user_idx, item_idx, ts, engaged, c.n_users),
        follows_author=_follows_at(world, user_idx, items.author_id[item_idx], ts),
        now_ms=ts,
    )
    log = LogRows(user_idx, item_idx, ts, rows, labels, engaged)
    is_train = ts < cutoff
    return Dataset(items, log.take(is_train), log.take(~is_train), cutoff,
                   int(ts.min()), int(end_ms))
