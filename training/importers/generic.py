"""The generic interaction schema: any team's log, as CSV or Parquet, into the system.

A dataset is a folder:

* `interactions.csv` / `interactions.parquet` (or parts: `interactions*.csv`,
  `interactions*.parquet`), one row per interaction, with a header:

  * `user_id`, `item_id` (required): any form: strings, integers (0 included), hashes.
  * the time (required), one of: `ts_ms` (epoch milliseconds), `ts_s` (epoch seconds),
    `timestamp` (ISO 8601).
  * what happened, either an `event` column (`view` / `impression` / `play`, `like`, `share`
    or `forward`, `follow`, `click`, `comment`, `hate` or `dislike`, `long_view`; the rows of
    one user on one item less than MERGE_WINDOW_MS apart are one interaction) or 0/1 label
    columns `like`, `share`, `follow`, `click`, `long_view`, `comment`, `hate` (> 0 is 1;
    absent is 0). Neither: every row is a view.
  * `engaged` (optional): the dataset's own positive, what evaluation holds out; by default a
    like, share or follow, or half the video watched (core/feedback.py, as the event
    writer counts it).
  * `watch_ms` (optional): time watched; `duration_ms` (optional): the item's duration as
    logged (used where the item file has none).

* `items.csv` / `items.parquet` (optional): `item_id`, `author_id`, `author_name`, `category`,
  `tags` (separated by `|`), `duration_s` or `duration_ms`, `publish_ts_ms` / `publish_ts_s` /
  `publish_time` (ISO 8601), `title`, `cover_url`. Every column but `item_id` is optional;
  categories, tags and authors may be any strings. Without a category, the first tag is one.
* `users.csv` / `users.parquet` (optional): `user_id`, `age` (years) or `age_bucket` (1..6),
  `gender` (`m`/`male`/`1`, `f`/`female`/`2`; anything else is unknown), `region` (any
  strings). Other columns are ignored.

Ids of any form become dense ids 1..n in the sorted order of the source ids (`core/ids.py`
keeps the map; the gateway translates at its edge); categories, authors, genders and regions
become dense codes the same way. The catalog is the items that appear in the interactions.
A malformed row (a missing id, an unparseable time or number, an unknown event) stops the
import naming file and line, or with `skip_bad` is skipped and counted. Line numbers count
the header as line 1 and assume no quoted newlines.

Presets (`training/importers/presets.py`) map other layouts (KuaiRand, MovieLens) onto this
schema with column renames and a rule or two; everything after reading is shared.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.ids import IdMap
from core.store.item_meta import ItemMeta, generated_cover_url
from training.importers.common import BadInput, age_bucket, build_world
from training.world import World

LABELS = ("like", "share", "follow", "click", "long_view", "comment", "hate", "engaged")
# The ranker's heads beyond like/share/follow that an importer may fill (training/data.py).
EXTRA_LABELS = ("click", "long_view", "comment", "hate", "engaged")
EVENTS = {"view": None, "impression": None, "play": None, "like": "like", "share": "share",
          "forward": "share", "follow": "follow", "click": "click", "comment": "comment", "hate": "hate",
          "dislike": "hate", "long_view": "long_view"}
MERGE_WINDOW_MS = 30 * 60 * 1000
TAG_SEP = "|"
DEFAULT_DURATION_S = 60.0
# The models hold two genders and "unknown" (core/rank/features.py: vocab_sizes).
GENDERS = {"1": 1, "m": 1, "male": 1, "man": 1, "2": 2, "f": 2, "female": 2, "woman": 2}


@dataclass
class Source:
    """What a reader found, in the schema's column names (values as read, strings allowed)."""

    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    skipped: int = 0
    name: str = ""
    tag_sep: str = TAG_SEP


@dataclass
class Imported:
    """A dataset ready to train and serve: the world (dense ids), the id map, display info."""

    world: World
    ids: IdMap
    display: dict[int, ItemMeta] = field(default_factory=dict)
    skipped: int = 0
    rows_read: int = 0


# ---- reading ------------------------------------------------------------------------------
def files_of(folder: Path, stem: str) -> list[Path]:
    return sorted(p for p in folder.glob(f"{stem}*") if p.suffix in (".csv", ".parquet") and p.is_file())


def read_table(path: Path, skip_bad: bool, rename: dict[str, str] | None = None) -> tuple[pd.DataFrame, int]:
    """Every column as text (ids keep their form: "007" stays "007"), renamed to the schema;
    a row with the wrong number of fields names file and line, or is skipped and counted."""
    skipped = 0
    if path.suffix == ".parquet":
        try:
            df = pd.read_parquet(path)
        except ImportError:
            raise BadInput(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
        except Exception as err:  # noqa: BLE001 - pyarrow's errors have no common base
            raise BadInput(f"{path}: not a readable Parquet file ({err})") from None
        df = df.astype(object).where(df.notna(), "").astype(str)
    else:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                df = pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="warn" if skip_bad else "error")
            skipped = sum(str(w.message).count("Skipping line") for w in caught)
        except pd.errors.ParserError as err:
            line = re.search(r"line (\d+)", str(err))
            raise BadInput(f"{path}:{line.group(1) if line else '?'}: malformed row ({err})") from None
        except pd.errors.EmptyDataError:
            raise BadInput(f"{path}: empty file") from None
        except UnicodeDecodeError as err:
            raise BadInput(f"{path}: not UTF-8 text ({err})") from None
    df.columns = [str(c).strip() for c in df.columns]
    if rename:
        df = df.rename(columns=rename)
    df.attrs["path"] = str(path)
    return df, skipped


def _bad(df: pd.DataFrame, mask: np.ndarray, what: str, skip_bad: bool) -> int:
    """Raise naming the first bad row's file and line, or count the bad rows."""
    n = int(mask.sum())
    if n and not skip_bad:
        first = int(np.flatnonzero(mask)[0])
        line = int(df.index[first]) + 2  # the header is line 1
        raise BadInput(f"{df.attrs.get('path', '?')}:{line}: malformed row ({what})")
    return n


def _number(df: pd.DataFrame, col: str) -> np.ndarray:
    """Float column; NaN where the text is no number ("" is NaN too)."""
    return pd.to_numeric(df[col].str.strip(), errors="coerce").to_numpy(np.float64)


def _time_ms(df: pd.DataFrame, prefix: str = "") -> np.ndarray | None:
    """Epoch ms from `<prefix>ts_ms`, `<prefix>ts_s` or `<prefix>timestamp`/`publish_time` (ISO)."""
    if f"{prefix}ts_ms" in df:
        return _number(df, f"{prefix}ts_ms")
    if f"{prefix}ts_s" in df:
        return _number(df, f"{prefix}ts_s") * 1000.0
    iso = f"{prefix}time" if prefix else "timestamp"
    if iso in df:
        t = pd.to_datetime(df[iso], errors="coerce", utc=True, format="mixed")
        out = (t - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(np.float64) * 1000.0
        return out
    return None


def clean_interactions(df: pd.DataFrame, skip_bad: bool) -> tuple[pd.DataFrame, int]:
    """Typed columns: user_id, item_id (text), ts_ms, watch_ms, duration_ms (float), labels (0/1)."""
    missing = [c for c in ("user_id", "item_id") if c not in df]
    ts = _time_ms(df)
    if ts is None:
        missing.append("ts_ms, ts_s or timestamp")
    if missing:
        raise BadInput(f"{df.attrs.get('path', '?')}:1: header lacks columns {missing}")
    out = pd.DataFrame({"user_id": df["user_id"].str.strip(), "item_id": df["item_id"].str.strip(), "ts_ms": ts},
                       index=df.index)
    bad = (out["user_id"] == "").to_numpy() | (out["item_id"] == "").to_numpy()
    skipped = _bad(df, bad, "empty user_id or item_id", skip_bad)
    bad_t = np.isnan(ts) & ~bad
    skipped += _bad(df, bad_t, "unparseable time", skip_bad)
    bad |= bad_t
    for col in ("watch_ms", "duration_ms"):
        if col in df:
            v = _number(df, col)
            empty = (df[col].str.strip() == "").to_numpy()
            wrong = ((np.isnan(v) & ~empty) | (v < 0)) & ~bad
            skipped += _bad(df, wrong, f"{col} must be a number >= 0", skip_bad)
            bad |= wrong
            out[col] = np.nan_to_num(v)
    for col in LABELS:
        if col in df:
            v = _number(df, col)
            empty = (df[col].str.strip() == "").to_numpy()
            wrong = np.isnan(v) & ~empty & ~bad
            skipped += _bad(df, wrong, f"label {col} must be a number", skip_bad)
            bad |= wrong
            out[col] = (np.nan_to_num(v) > 0).astype(np.int8)
    if "event" in df:
        kind = df["event"].str.strip().str.lower()
        wrong = (~kind.isin(list(EVENTS))).to_numpy() & ~bad
        skipped += _bad(df, wrong, f"unknown event; known: {', '.join(EVENTS)}", skip_bad)
        bad |= wrong
        for event, label in EVENTS.items():
            hit = (kind == event).to_numpy().astype(np.int8)
            if label is not None and (label in out or hit.any()):  # a label the log never has is no head
                out[label] = np.maximum(out[label].to_numpy(), hit) if label in out else hit
        out = out[~bad]
        return merge_events(out), skipped
    return out[~bad], skipped


def merge_events(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of one user on one item less than MERGE_WINDOW_MS after the previous one are one
    interaction (a view, then a like): the first time, the longest watch, every label."""
    df = df.sort_values(["user_id", "item_id", "ts_ms"], kind="stable")
    same = ((df["user_id"].to_numpy()[1:] == df["user_id"].to_numpy()[:-1])
            & (df["item_id"].to_numpy()[1:] == df["item_id"].to_numpy()[:-1])
            & (np.diff(df["ts_ms"].to_numpy()) < MERGE_WINDOW_MS))
    group = np.concatenate([[0], np.cumsum(~same)])
    agg = {c: ("first" if c in ("user_id", "item_id", "ts_ms") else "max") for c in df.columns}
    return df.groupby(group, sort=False).agg(agg).reset_index(drop=True)


def read_folder(folder: Path, skip_bad: bool = False) -> Source:
    """A folder in the generic schema."""
    logs = files_of(folder, "interactions")
    if not logs:
        raise BadInput(f"{folder}: no interactions.csv or interactions.parquet here (see the schema in "
                       "training/importers/generic.py)")
    parts, skipped = [], 0
    for path in logs:
        df, n = read_table(path, skip_bad)
        clean, n_bad = clean_interactions(df, skip_bad)
        parts.append(clean)
        skipped += n + n_bad
    items = _side(folder, "items", skip_bad)
    users = _side(folder, "users", skip_bad)
    return Source(pd.concat(parts, ignore_index=True), items, users, skipped, str(folder))


def _side(folder: Path, stem: str, skip_bad: bool) -> pd.DataFrame | None:
    paths = [p for p in files_of(folder, stem) if p.stem == stem or p.stem.startswith(f"{stem}_")]
    if not paths:
        return None
    frames = []
    for p in paths:
        df, _ = read_table(p, skip_bad)
        key = "item_id" if stem == "items" else "user_id"
        if key not in df:
            raise BadInput(f"{p}:1: header lacks columns ['{key}']")
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


# ---- building -----------------------------------------------------------------------------
def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Any values -> (codes 1..n in sorted order, the sorted distinct values); "" -> 0."""
    uniq, inverse = np.unique(values.astype(str), return_inverse=True)
    codes = inverse.astype(np.int64) + 1
    if uniq.size and uniq[0] == "":
        codes -= 1
        uniq = uniq[1:]
    return codes, uniq


def _lookup(side: pd.DataFrame | None, key: str, ids: np.ndarray) -> pd.DataFrame:
    """The side table's row for each id (empty strings where it has none), first row wins."""
    if side is None:
        return pd.DataFrame(index=range(ids.size))
    side = side.copy()
    side[key] = side[key].str.strip()
    side = side.drop_duplicates(key).set_index(key)
    return side.reindex(pd.Index(ids)).fillna("").reset_index(drop=True)


def build(source: Source) -> Imported:
    """Dense ids, codes and the World the training and the Redis loader take."""
    imp = source.interactions
    if imp.empty:
        raise BadInput(f"{source.name}: no interactions")
    uid, users = _codes(imp["user_id"].to_numpy())
    iid, items = _codes(imp["item_id"].to_numpy())
    n = len(imp)
    col = {c: imp[c].to_numpy() if c in imp else np.zeros(n, np.int8) for c in LABELS}

    it = _lookup(source.items, "item_id", items)
    tag_text = it["tags"] if "tags" in it else [""] * items.size
    tags = [tuple(t.strip() for t in str(s).split(source.tag_sep) if t.strip()) for s in tag_text]
    category_text = np.array(it["category"].str.strip() if "category" in it else [""] * items.size, dtype=object)
    category_text = np.array([c or (t[0] if t else "") for c, t in zip(category_text, tags)], dtype=str)
    category, category_names = _codes(category_text)
    category = np.maximum(category, 1) if category_names.size == 0 else np.where(category == 0,
                                                                                 category_names.size + 1, category)
    author_text = np.array(it["author_id"].str.strip() if "author_id" in it else [""] * items.size, dtype=str)
    author, _ = _codes(author_text)
    author = np.where(author == 0, author.max(initial=0) + 1, author)  # one "unknown" author
    duration = np.full(items.size, np.nan)
    if "duration_s" in it:
        duration = pd.to_numeric(it["duration_s"], errors="coerce").to_numpy(np.float64)
    elif "duration_ms" in it:
        duration = pd.to_numeric(it["duration_ms"], errors="coerce").to_numpy(np.float64) / 1000.0
    if "duration_ms" in imp:  # as logged, for items the item file does not time
        logged = pd.Series(imp["duration_ms"].to_numpy() / 1000.0).groupby(iid).median()
        fill = np.full(items.size, np.nan)
        fill[logged.index.to_numpy() - 1] = logged.to_numpy()
        duration = np.where(np.isnan(duration) | (duration <= 0), fill, duration)
    duration = np.where(np.isnan(duration) | (duration <= 0), DEFAULT_DURATION_S, duration)

    us = _lookup(source.users, "user_id", users)
    if "age_bucket" in us:
        ages = pd.to_numeric(us["age_bucket"], errors="coerce").fillna(0).clip(0, 6).astype(np.int64).to_numpy()
    elif "age" in us:
        ages = np.array([age_bucket(int(a)) for a in pd.to_numeric(us["age"], errors="coerce").fillna(0)], np.int64)
    else:
        ages = np.zeros(users.size, np.int64)
    gender = (us["gender"].str.strip().str.lower().map(GENDERS).fillna(0).astype(np.int64).to_numpy()
              if "gender" in us else np.zeros(users.size, np.int64))
    region = _codes(us["region"].str.strip().to_numpy())[0] if "region" in us else np.zeros(users.size, np.int64)

    engaged = col["engaged"] if "engaged" in imp else None
    extra = {c: col[c] for c in EXTRA_LABELS if c in imp and c != "engaged"}
    if engaged is not None:
        extra["engaged"] = engaged
    world = build_world(
        user_ids=uid, item_ids=iid, ts_ms=imp["ts_ms"].to_numpy().astype(np.int64),
        watch_ms=(imp["watch_ms"].to_numpy() if "watch_ms" in imp else np.zeros(n)).astype(np.int64),
        like=col["like"], share=col["share"], follow=col["follow"],
        users={u + 1: (int(a), int(g), int(r)) for u, (a, g, r) in enumerate(zip(ages, gender, region))},
        items={i + 1: (int(a), int(c), float(d)) for i, (a, c, d) in enumerate(zip(author, category, duration))},
        name=source.name, extra=extra)
    publish = _time_ms(it, "publish_") if len(it.columns) else None
    if publish is not None:  # a known upload time, moved onto the world's clock like the log
        shift = int(world.impressions["ts_ms"].max()) - int(imp["ts_ms"].max())
        known = ~np.isnan(publish)
        v = world.videos
        v["publish_ms"] = np.where(known, np.minimum(np.nan_to_num(publish).astype(np.int64) + shift,
                                                     v["publish_ms"]), v["publish_ms"])
    world.original_ids = {"user": users, "item": items}
    world.skipped_rows = source.skipped
    display = {}
    title = it["title"].to_numpy() if "title" in it else None
    cover = it["cover_url"].to_numpy() if "cover_url" in it else None
    author_name = it["author_name"].to_numpy() if "author_name" in it else None
    for k in range(items.size):
        item_tags = tags[k] or ((category_text[k],) if category_text[k] else ())
        display[k + 1] = ItemMeta(
            title=str(title[k]) if title is not None and title[k] else f"Video {items[k]}",
            cover_url=str(cover[k]) if cover is not None and cover[k] else generated_cover_url(k + 1),
            author_name=str(author_name[k]) if author_name is not None and author_name[k] else (
                f"@{author_text[k]}" if author_text[k] else ""),
            duration_s=float(duration[k]), tags=item_tags)
    return Imported(world, IdMap(users, items), display, source.skipped, n)


def load(folder: Path, skip_bad: bool = False) -> Imported:
    return build(read_folder(folder, skip_bad))
