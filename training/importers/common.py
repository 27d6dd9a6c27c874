"""Shared by the importers: row parsing with file:line errors, and building a `World`."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.world import DAY_MS, WORLD_START_MS, World, WorldConfig


class BadInput(Exception):
    """An input problem the user can fix; the message names the file (and line)."""


@dataclass
class Rows:
    """Parsed rows of one file and how many malformed ones were skipped."""

    values: list[tuple]
    skipped: int = 0


def parse_lines(path: Path, sep: str, parse: Callable[[list[str]], tuple], skip_bad: bool,
                encoding: str = "utf-8", header: bool = False) -> Rows:
    """Split each line on `sep` and convert it with `parse`; a failure names file and line."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    out, skipped = [], 0
    with path.open(encoding=encoding, errors="strict") as f:
        lines: Iterator[tuple[int, str]] = enumerate(f, 1)
        if header:
            next(lines, None)
        for lineno, line in lines:
            line = line.rstrip("\r\n")
            if not line:
                continue
            try:
                out.append(parse(line.split(sep)))
            except (ValueError, IndexError) as err:
                if not skip_bad:
                    raise BadInput(f"{path}:{lineno}: malformed row {line[:80]!r} ({err})") from None
                skipped += 1
    return Rows(out, skipped)


def dense(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map arbitrary ids to 1..n; returns (dense ids, the sorted original ids)."""
    uniq, inverse = np.unique(ids, return_inverse=True)
    return inverse.astype(np.int64) + 1, uniq


def age_bucket(age: int) -> int:
    """Years -> 1..6 (<18, 18-24, 25-34, 35-44, 45-55, 56+); 0 unknown."""
    if age <= 0:
        return 0
    return int(np.searchsorted([18, 25, 35, 45, 56], age, side="right")) + 1


def build_world(*, user_ids: np.ndarray, item_ids: np.ndarray, ts_ms: np.ndarray, watch_ms: np.ndarray,
                like: np.ndarray, share: np.ndarray, follow: np.ndarray,
                users: dict[int, tuple[int, int, int]], items: dict[int, tuple[int, int, float]],
                test_fraction: float = 0.1, name: str = "",
                extra: dict[str, np.ndarray] | None = None) -> World:
    """A World from interactions. `users`: original id -> (age_bucket, gender, region);
    `items`: original id -> (author, category, duration_s). Ids are made dense; times are
    shifted so the log ends where a generated world ends; the last `test_fraction` of the
    log (by time) is the test window. `extra`: more per-interaction columns for the impression
    table ("engaged", the dataset's own positive; "click", "long_view", "hate", ...). The
    dataset's own ids stay in `world.original_ids` ({"user": [n_users], "item": [n_items]},
    position = dense id - 1)."""
    if ts_ms.size == 0:
        raise BadInput(f"{name}: no interactions")
    uid, user_orig = dense(user_ids)
    iid, item_orig = dense(item_ids)
    span = int(ts_ms.max() - ts_ms.min())
    days = max(1, math.ceil(span / DAY_MS) + 1)
    cutoff_quantile = float(np.quantile(ts_ms, 1 - test_fraction))
    test_days = max((ts_ms.max() - cutoff_quantile) / DAY_MS, 1e-3)
    shift = WORLD_START_MS + days * DAY_MS - int(ts_ms.max())
    ts = ts_ms.astype(np.int64) + shift
    order = np.argsort(ts, kind="stable")
    u_meta = np.array([users.get(int(o), (0, 0, 0)) for o in user_orig], dtype=np.int64).reshape(-1, 3)
    i_meta = [items.get(int(o), (1, 1, 60.0)) for o in item_orig]
    authors_orig = np.array([m[0] for m in i_meta], dtype=np.int64)
    author_dense, _ = dense(authors_orig)
    category = np.array([max(1, int(m[1])) for m in i_meta], dtype=np.int64)
    duration = np.array([max(1.0, float(m[2])) for m in i_meta], dtype=np.float32)
    region = np.maximum(u_meta[:, 2], 1)
    n_users, n_items = user_orig.size, item_orig.size
    # An item is "published" at its first interaction (no earlier: features read item age).
    first = np.full(n_items, np.iinfo(np.int64).max)
    np.minimum.at(first, iid - 1, ts)
    config = WorldConfig(n_users=n_users, n_authors=int(author_dense.max()), n_videos=n_items,
                         n_categories=int(category.max()), n_tags=int(category.max()),
                         n_regions=int(region.max()), days=days, test_days=float(test_days))
    world = World(config)
    world.users = {"user_id": np.arange(1, n_users + 1), "age_bucket": u_meta[:, 0], "gender": u_meta[:, 1],
                   "region": region, "device": np.ones(n_users, np.int64), "register_ms": np.zeros(n_users, np.int64)}
    world.authors = {"author_id": np.arange(1, config.n_authors + 1), "region": np.ones(config.n_authors, np.int64),
                     "main_category": np.ones(config.n_authors, np.int64), "quality": np.zeros(config.n_authors)}
    world.videos = {"item_id": np.arange(1, n_items + 1), "author_id": author_dense, "category": category,
                    "tags": category.copy(), "duration_s": duration, "publish_ms": first,
                    "region": np.ones(n_items, np.int64), "quality": np.zeros(n_items), "exposure": np.ones(n_items)}
    fol = follow[order] > 0
    world.follows = {"user_id": uid[order][fol], "author_id": author_dense[iid[order][fol] - 1],
                     "ts_ms": ts[order][fol]}
    world.impressions = {"user_id": uid[order], "item_id": iid[order], "ts_ms": ts[order],
                         "device": np.ones(ts.size, np.int64), "watch_ms": watch_ms[order].astype(np.int64),
                         "like": like[order].astype(np.int8), "share": share[order].astype(np.int8),
                         "follow": follow[order].astype(np.int8)}
    for key, col in (extra or {}).items():
        world.impressions[key] = np.asarray(col)[order].astype(np.int8)
    world.truth = {}
    world.original_ids = {"user": user_orig, "item": item_orig}
    return world
