"""KuaiRand and KuaiRec interaction logs (CSV with a header), detected by their columns.

* KuaiRand (`log_*.csv`, e.g. log_standard_4_08_to_4_21_1k.csv): user_id, video_id,
  time_ms, is_like, is_follow, is_forward, play_time_ms, duration_ms, ... -> like, follow,
  share (forward), watch time, duration; where present is_click, long_view, is_hate,
  is_comment -> click, long_view, hate, comment, and the positive ("engaged") is a click or
  a long view.
* KuaiRec (`small_matrix.csv` / `big_matrix.csv`): user_id, video_id, play_duration,
  video_duration, timestamp (s), watch_ratio -> watch time and duration; a like is a
  watch ratio >= 2 (watched twice), no shares or follows.

Optional side files: KuaiRand `video_features_basic*.csv` (video_id, author_id, ...,
video_duration, tag) for authors and categories, and for display info (`video_display`: the
real tags and durations, shown by the console), and `user_features*.csv` (user_id, ...) is
not needed.
Every log file found is read; rows are one interaction each.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from training.display import set_display
from training.importers.common import BadInput, build_world
from training.world import World

KUAIRAND = ("user_id", "video_id", "time_ms", "is_like", "is_follow", "is_forward", "play_time_ms", "duration_ms")
# Read where the log has them (the official logs do): the dataset's own positive is a click or a
# long view; a hate is explicit negative feedback.
KUAIRAND_LABELS = ("is_click", "long_view", "is_hate", "is_comment")
KUAIREC = ("user_id", "video_id", "play_duration", "video_duration", "timestamp")


def _read(path: Path, need: tuple[str, ...], skip_bad: bool,
          optional: tuple[str, ...] = ()) -> tuple[dict[str, list[float]], int]:
    skipped = 0
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise BadInput(f"{path}:1: header lacks columns {missing}")
        need = need + tuple(c for c in optional if c in (reader.fieldnames or []))
        cols: dict[str, list[float]] = {c: [] for c in need}
        for row in reader:
            try:
                values = [float(row[c]) if row[c] not in ("", None) else float("nan") for c in need]
                if any(np.isnan(v) for v in values[:2]):
                    raise ValueError("empty user_id/video_id")
            except (ValueError, TypeError) as err:
                if not skip_bad:
                    raise BadInput(f"{path}:{reader.line_num}: malformed row ({err})") from None
                skipped += 1
                continue
            for c, v in zip(need, values):
                cols[c].append(v)
    return cols, skipped


def _video_features(folder: Path) -> dict[int, tuple[int, int, float]]:
    out: dict[int, tuple[int, int, float]] = {}
    for path in sorted(folder.glob("video_features_basic*.csv")):
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                try:
                    tag = str(row.get("tag") or "1").split(",")[0]
                    out[int(row["video_id"])] = (int(float(row.get("author_id") or 1)),
                                                 int(float(tag)) + 1 if tag.strip().lstrip("-").isdigit() else 1,
                                                 float(row.get("video_duration") or 0) / 1000 or 60.0)
                except (ValueError, KeyError):
                    continue
    return out


def video_display(folder: Path) -> dict[int, tuple[int | None, tuple[str, ...], float | None]]:
    """What a person is shown of each video, from `video_features_basic*.csv`: original video
    id -> (original author id, the dataset's tags, duration in seconds). Tags are the `tag`
    column as given (a comma-separated list of tag ids, e.g. "20,43", in its order; the
    dataset publishes no tag names); None where a value is empty or malformed. A malformed row
    is skipped, like `_video_features` does: display info never stops an import."""
    out: dict[int, tuple[int | None, tuple[str, ...], float | None]] = {}
    for path in sorted(folder.glob("video_features_basic*.csv")):
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                try:
                    video = int(row["video_id"])
                except (ValueError, KeyError, TypeError):
                    continue
                tags = tuple(t.strip() for t in str(row.get("tag") or "").split(",") if t.strip())
                try:
                    author: int | None = int(float(row.get("author_id") or ""))
                except ValueError:
                    author = None
                try:
                    ms = float(row.get("video_duration") or "")
                    duration = ms / 1000 if ms > 0 else None
                except ValueError:
                    duration = None
                out[video] = (author, tags, duration)
    return out


def display_columns(display: dict[int, tuple[int | None, tuple[str, ...], float | None]],
                    original_items: np.ndarray, log_duration_s: np.ndarray) -> dict[str, list]:
    """Display info per video in dense order (`original_items[i]` is video i+1): a generated
    title naming the dataset's video id and its first tag, the author's dataset id, the real
    tags, and the real duration (the features file's, else the log's `duration_ms`)."""
    titles, authors, durations, tags = [], [], [], []
    for orig, log_s in zip(original_items.tolist(), log_duration_s.tolist()):
        author, video_tags, duration = display.get(int(orig), (None, (), None))
        titles.append(f"video {orig}" + (f" · tag {video_tags[0]}" if video_tags else ""))
        authors.append(f"author {author}" if author is not None else "")
        durations.append(duration if duration is not None else float(log_s))
        tags.append(video_tags)
    return {"title": titles, "author_name": authors, "duration_s": durations, "tags": tags}


def load(path: Path, skip_bad: bool = False) -> World:
    logs = sorted(path.glob("log_*.csv"))
    kind = "kuairand"
    if not logs:
        logs, kind = sorted(p for p in path.glob("*_matrix.csv")), "kuairec"
    if not logs:
        raise BadInput(f"{path}: no KuaiRand log_*.csv or KuaiRec *_matrix.csv files here")
    need = KUAIRAND if kind == "kuairand" else KUAIREC
    parts, skipped = [], 0
    for log in logs:
        cols, n_bad = _read(log, need, skip_bad, KUAIRAND_LABELS if kind == "kuairand" else ())
        parts.append(cols)
        skipped += n_bad
    common = [k for k in parts[0] if all(k in p for p in parts)]
    c = {k: np.concatenate([np.asarray(p[k], dtype=np.float64) for p in parts]) for k in common}
    features = _video_features(path)
    if kind == "kuairand":
        ts, watch, dur = c["time_ms"], c["play_time_ms"], c["duration_ms"]
        like, share, follow = c["is_like"] > 0, c["is_forward"] > 0, c["is_follow"] > 0
        extra = {name: np.nan_to_num(c[col]) > 0 for col, name in
                 (("is_click", "click"), ("long_view", "long_view"), ("is_hate", "hate"), ("is_comment", "comment"))
                 if col in c}
        if "click" in extra or "long_view" in extra:  # the dataset's positive: a click or a long view
            extra["engaged"] = extra.get("click", False) | extra.get("long_view", False)
    else:
        ts, watch, dur = c["timestamp"] * 1000, c["play_duration"], c["video_duration"]
        like = np.nan_to_num(watch / np.maximum(dur, 1)) >= 2.0
        share = follow = np.zeros(ts.size, bool)
        extra = {}
    items = dict(features)
    video = c["video_id"].astype(np.int64)
    for v, d in zip(*np.unique(np.stack([video, np.nan_to_num(dur).astype(np.int64)]), axis=1)):
        author, cat, _ = items.get(int(v), (1, 1, 0.0))
        items[int(v)] = (author, cat, max(float(d) / 1000, 1.0))
    world = build_world(user_ids=c["user_id"].astype(np.int64), item_ids=video,
                        ts_ms=np.nan_to_num(ts).astype(np.int64), watch_ms=np.nan_to_num(watch).astype(np.int64),
                        like=like.astype(np.int8), share=share.astype(np.int8), follow=follow.astype(np.int8),
                        users={}, items=items, name=str(path), extra=extra)
    world.skipped_rows = skipped
    if kind == "kuairand":
        set_display(world, display_columns(video_display(path), world.original_ids["item"],
                                           world.videos["duration_s"]))
    return world
