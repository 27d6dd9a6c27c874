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

# The ranker's heads. "engaged" is the dataset's own positive (what evaluation holds out):
# here a like or half the video watched; an importer may define it ("engaged" column: a click
# or a long view on KuaiRand, any rating on MovieLens). Label columns an importer provides
# beyond these become heads too (a hate is negative feedback the fusion can punish).
HEADS = ("engaged", "like", "complete", "share", "follow")
OPTIONAL_HEADS = ("click", "long_view", "comment", "hate")
COMPLETE_FRACTION = 0.9
# The ranker's item popularity feature ("item_log_pop") is log1p of the item's positives with
# this half-life, as of the row's time: on short-video logs what was engaged in the last day
# predicts the next day far better than all-time counts (the tuned popularity baseline picks a
# 1-day window on the synthetic world and on KuaiRand). Serving reads the value at the
# training cutoff from the model's item table (the model is retrained daily).
POP_HALF_LIFE_H = 24.0
HOUR_MS = 3_600_000


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
    heads: tuple[str, ...] = HEADS
    pop_at: object = None  # fn(item_idx, ts_ms) -> decayed positives before ts (see Popularity)
    pop_half_life_h: float = POP_HALF_LIFE_H


def heads_of(world: World) -> tuple[str, ...]:
    return HEADS + tuple(h for h in OPTIONAL_HEADS if h in world.impressions)


def engaged_mask(world: World) -> np.ndarray:
    """The positive: the importer's "engaged" column where it has one (KuaiRand: click or long
    view; MovieLens: a rating), else the one definition of engagement (core/feedback.py), as
    the event writer applies it."""
    imp, v = world.impressions, world.videos
    if "engaged" in imp:
        return imp["engaged"] > 0
    return engaged_rows(imp["watch_ms"], v["duration_s"][imp["item_id"] - 1], imp["like"], imp["share"],
                        imp["follow"])


class Popularity:
    """Each item's positives, each weighing 0.5 ** (age / half-life), strictly before a time."""

    def __init__(self, item_idx: np.ndarray, ts_ms: np.ndarray, n_items: int, half_life_h: float = POP_HALF_LIFE_H):
        self.h_ms = half_life_h * HOUR_MS
        self.t0 = int(ts_ms.min()) if ts_ms.size else 0
        self.span = (int(ts_ms.max()) if ts_ms.size else 0) - self.t0 + 2  # queries are clipped into it
        order = np.lexsort((ts_ms, item_idx))
        self.item, ts = item_idx[order].astype(np.int64), ts_ms[order].astype(np.int64) - self.t0
        self.key = self.item * self.span + ts
        self.cum = np.concatenate([[0.0], np.cumsum(np.exp2(ts / self.h_ms))])
        self.start = np.searchsorted(self.item, np.arange(n_items + 1))

    def __call__(self, item_idx: np.ndarray, ts_ms) -> np.ndarray:
        item_idx = np.asarray(item_idx, np.int64)
        ts = np.broadcast_to(np.asarray(ts_ms, np.float64), item_idx.shape)
        safe = np.maximum(item_idx, 0)
        lo = self.start[safe]
        rel = np.clip(ts - self.t0, 0, self.span - 1)
        # events of the item strictly before ts: (item, time) keys are sorted
        hi = np.searchsorted(self.key, safe * self.span + rel.astype(np.int64), side="left")
        total = (self.cum[hi] - self.cum[lo]) * np.exp2(-rel / self.h_ms)
        return np.where(item_idx >= 0, np.maximum(total, 0.0), 0.0)


def popularity(world: World, half_life_h: float = POP_HALF_LIFE_H) -> Popularity:
    imp = world.impressions
    engaged = engaged_mask(world)
    return Popularity(imp["item_id"][engaged] - 1, imp["ts_ms"][engaged], world.config.n_videos,
                      half_life_h if half_life_h > 0 else 1e9)


def item_table(world: World, until_ms: int | None = None, pop: Popularity | None = None) -> ItemTable:
    """The item table; `log_pop` is log1p of the decayed positives before `until_ms` (default
    the end of the log)."""
    v, imp = world.videos, world.impressions
    pop = popularity(world) if pop is None else pop
    until = imp["ts_ms"].max(initial=0) + 1 if until_ms is None else until_ms
    return ItemTable.from_columns(
        item_id=v["item_id"], author_id=v["author_id"], category=v["category"],
        duration_s=v["duration_s"], publish_ms=v["publish_ms"], region=v["region"],
        log_pop=np.log1p(pop(np.arange(v["item_id"].size), until)).astype(np.float32))


AGE_MATCH_SPREAD = 25  # sampled negatives: neighbours in publish order either side of the age match
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


def sampled_negatives(ds: Dataset, world: World, rows: LogRows, per_row: int, rng: np.random.Generator,
                      uniform_share: float = 1.0) -> LogRows:
    """`per_row` unlabelled candidates for each of `rows` (the same user and time, another
    item), every label 0: what the ranker meets at serving (recall candidates the user was
    never shown) but the logged impressions of the old policy never hold (exposure bias).

    A `uniform_share` of them are drawn uniformly among the items of the age a logged
    impression has (an age drawn from the training impressions' ages, then an item published
    about that long before the row): uniform over items, so an item's popularity stays the
    signal it is, but matched in age, so "young" does not come to mean "positive" merely
    because a uniform draw from the whole catalog is older than what gets shown (measured in
    the learning loop: 8.3 vs 7.0 days on average, and a day-1 ranker that put brand-new
    uploads first). The rest are drawn by exposure (popular items, which cancels popularity)."""
    n = len(rows) * per_row
    src = np.repeat(np.arange(len(rows)), per_row)
    ts = rows.ts_ms[src]
    log = ds.train
    order = np.argsort(log.ts_ms, kind="stable")
    n_before = np.maximum(np.searchsorted(log.ts_ms[order], ts, side="right"), 1)
    exposed = log.item_idx[order[np.minimum((rng.random(n) * n_before).astype(np.int64), order.size - 1)]]
    by_publish = np.argsort(ds.items.publish_ms, kind="stable")
    published = ds.items.publish_ms[by_publish]
    n_pub = np.maximum(np.searchsorted(published, ts, side="right"), 1)
    ages = log.ts_ms - ds.items.publish_ms[log.item_idx]
    age = ages[rng.integers(0, ages.size, n)] if ages.size else np.zeros(n, np.int64)
    # the item published nearest to (row time - age), then a random neighbour in publish
    # order (AGE_MATCH_SPREAD either side) so one publish time does not always give one item
    at = np.searchsorted(published, ts - age) + rng.integers(-AGE_MATCH_SPREAD, AGE_MATCH_SPREAD + 1, n)
    matched = by_publish[np.clip(at, 0, n_pub - 1)]
    item_idx = np.where(rng.random(n) < uniform_share, matched, exposed)
    neg = rows.take(src)
    users = dataclasses.replace(neg.users, follows_author=_follows_at(
        world, neg.user_idx, ds.items.author_id[item_idx], ts))
    return LogRows(neg.user_idx, item_idx, ts, users, np.zeros_like(neg.labels), np.zeros(n, bool))


def candidate_negatives(ds: Dataset, world: World, rows: LogRows, per_row: int, rng: np.random.Generator,
                        candidates_of) -> LogRows:
    """Up to `per_row` negatives for each of `rows` from its user's own recall candidates:
    `candidates_of(user_idx)` answers the item ids the funnel would hand the ranker at the
    cutoff (seen items already dropped, best first); each row draws among those published
    before its time, every label 0. These are the items the ranker must order at serving and
    the logged impressions never hold: the hard negatives that `sampled_negatives`' uniform
    and exposure draws miss. A row whose user has no such candidate gets none."""
    src, item_idx = [], []
    order = np.argsort(rows.user_idx, kind="stable")
    users, starts = np.unique(rows.user_idx[order], return_index=True)
    for u, sel in zip(users, np.split(order, starts[1:])):
        cand = ds.items.index_of(np.asarray(candidates_of(int(u)), np.int64))
        cand = cand[cand >= 0]
        if cand.size == 0:
            continue
        cand = cand[np.argsort(ds.items.publish_ms[cand], kind="stable")]
        n_before = np.searchsorted(ds.items.publish_ms[cand], rows.ts_ms[sel], side="left")
        rep = np.repeat(sel, per_row)
        n = np.repeat(n_before, per_row)
        keep = n > 0
        src.append(rep[keep])
        item_idx.append(cand[(rng.random(int(keep.sum())) * n[keep]).astype(np.int64)])
    src = np.concatenate(src) if src else np.zeros(0, np.int64)
    item_idx = np.concatenate(item_idx) if item_idx else np.zeros(0, np.int64)
    neg = rows.take(src)
    users = dataclasses.replace(neg.users, follows_author=_follows_at(
        world, neg.user_idx, ds.items.author_id[item_idx], neg.ts_ms))
    return LogRows(neg.user_idx, item_idx, neg.ts_ms, users, np.zeros_like(neg.labels), np.zeros(src.size, bool))


def concat(a: LogRows, b: LogRows) -> LogRows:
    u, v = a.users, b.users
    users = dataclasses.replace(u, **{f: np.concatenate([getattr(u, f), getattr(v, f)])
                                      for f in u.__dataclass_fields__ if isinstance(getattr(u, f), np.ndarray)})
    return LogRows(np.concatenate([a.user_idx, b.user_idx]), np.concatenate([a.item_idx, b.item_idx]),
                   np.concatenate([a.ts_ms, b.ts_ms]), users, np.concatenate([a.labels, b.labels]),
                   np.concatenate([a.engaged, b.engaged]))


def _follows_at(world: World, user_idx, author_id, ts_ms) -> np.ndarray:
    """1.0 where the user followed the author strictly before the row's time (a follow made on
    the row's own impression is its label, not its feature)."""
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
    return ((uniq[pos] == q) & (first_ts[pos] < ts_ms)).astype(np.float32)


def build(world: World, test_days: float | None = None, end_ms: int | None = None,
          pop_half_life_h: float = POP_HALF_LIFE_H) -> Dataset:
    """The time split: test = the last `test_days` before `end_ms` (default the world's end);
    rows at or after `end_ms` are left out (a validation split: `end_ms` = the test cutoff).
    `pop_half_life_h`: the ranker's popularity feature (0 = all-time counts)."""
    c = world.config
    test_days = c.test_days if test_days is None else test_days
    imp, users, v = world.impressions, world.users, world.videos
    end_ms = c.end_ms if end_ms is None else int(end_ms)
    cutoff = int(end_ms - test_days * DAY_MS)
    pop = popularity(world, pop_half_life_h)
    items = item_table(world, until_ms=cutoff, pop=pop)
    user_idx = imp["user_id"] - 1
    item_idx = items.index_of(imp["item_id"])
    ts = imp["ts_ms"]
    engaged = engaged_mask(world)
    duration_ms = v["duration_s"][item_idx] * 1000.0
    heads = heads_of(world)
    columns = {"engaged": engaged, "like": imp["like"] > 0,
               "complete": imp["watch_ms"] >= COMPLETE_FRACTION * duration_ms,
               "share": imp["share"] > 0, "follow": imp["follow"] > 0}
    labels = np.stack([columns[h] if h in columns else imp[h] > 0 for h in heads], axis=1).astype(np.float32)
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
    in_range = ts < end_ms
    return Dataset(items, log.take(is_train), log.take(~is_train & in_range), cutoff,
                   int(ts.min()), int(end_ms), heads, pop, pop_half_life_h)
