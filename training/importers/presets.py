"""Presets: public layouts read as the generic schema (training/importers/generic.py).

* `kuairand`: `log_*.csv` (KuaiRand's standard / pure logs) renamed column by column
  (video_id -> item_id, time_ms -> ts_ms, is_like -> like, is_forward -> share, ...; the
  positive is a click or a long view, as in training/importers/kuairand.py), and
  `video_features_basic*.csv` as the item file: author, the real tag ids (comma-separated;
  the first is the category), duration, upload date.
* `movielens`: ml-100k / ml-1m through the MovieLens parsers (training/importers/movielens.py):
  a rating is an interaction, >= 4 a like, any rating the positive; titles and genres are the
  item file, age, gender and zip region the user file.
* `generic`: the schema itself.

`detect` picks one from the files a folder holds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from training.importers import movielens as ml
from training.importers.common import BadInput, parse_lines
from training.importers.generic import Source, clean_interactions, files_of, read_folder, read_table

PRESETS = ("generic", "kuairand", "movielens")

KUAIRAND_LOG = {"video_id": "item_id", "time_ms": "ts_ms", "is_like": "like", "is_forward": "share",
                "is_follow": "follow", "is_click": "click", "long_view": "long_view", "is_hate": "hate",
                "is_comment": "comment", "play_time_ms": "watch_ms", "duration_ms": "duration_ms"}
KUAIRAND_VIDEOS = {"video_id": "item_id", "tag": "tags", "video_duration": "duration_ms",
                   "upload_dt": "publish_time"}


def detect(folder: Path) -> str:
    if files_of(folder, "interactions"):
        return "generic"
    if any(folder.glob("log_*.csv")):
        return "kuairand"
    if (folder / "u.data").exists() or (folder / "ratings.dat").exists():
        return "movielens"
    raise BadInput(f"{folder}: no interactions.csv / .parquet (the generic schema), KuaiRand log_*.csv or "
                   "MovieLens u.data / ratings.dat here")


def read(folder: Path, preset: str = "auto", skip_bad: bool = False) -> Source:
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise BadInput(f"{folder}: no such directory")
    preset = detect(folder) if preset == "auto" else preset
    if preset not in PRESETS:
        raise BadInput(f"unknown preset {preset!r}; known: auto, {', '.join(PRESETS)}")
    return {"generic": read_folder, "kuairand": read_kuairand, "movielens": read_movielens}[preset](folder, skip_bad)


def read_kuairand(folder: Path, skip_bad: bool = False) -> Source:
    logs = sorted(folder.glob("log_*.csv"))
    if not logs:
        raise BadInput(f"{folder}: no KuaiRand log_*.csv files here")
    parts, skipped = [], 0
    for path in logs:
        df, n = read_table(path, skip_bad, KUAIRAND_LOG)
        df = df.drop(columns=[c for c in df.columns if c.startswith("is_") or c in ("date", "hourmin")])
        clean, n_bad = clean_interactions(df, skip_bad)
        if "click" in clean or "long_view" in clean:  # the dataset's positive
            clean["engaged"] = np.maximum(clean.get("click", 0), clean.get("long_view", 0)).astype(np.int8)
        parts.append(clean)
        skipped += n + n_bad
    items = None
    videos = sorted(folder.glob("video_features_basic*.csv"))
    if videos:
        items = pd.concat([read_table(p, skip_bad, KUAIRAND_VIDEOS)[0] for p in videos], ignore_index=True)
        items["author_name"] = ""  # KuaiRand has author ids only: shown as @<id>
    return Source(pd.concat(parts, ignore_index=True), items, None, skipped, str(folder), tag_sep=",")


def read_movielens(folder: Path, skip_bad: bool = False) -> Source:
    if (folder / "u.data").exists():
        files, sep, age_at, gender_at, encoding = ("u.data", "u.user", "u.item"), "\t", 1, 2, "latin-1"
    elif (folder / "ratings.dat").exists():
        files, sep, age_at, gender_at, encoding = ("ratings.dat", "users.dat", "movies.dat"), "::", 2, 1, "latin-1"
    else:
        raise BadInput(f"{folder}: neither ml-100k (u.data) nor ml-1m (ratings.dat) files here")
    ratings = parse_lines(folder / files[0], sep, ml._rating, skip_bad)
    users = parse_lines(folder / files[1], "|" if sep == "\t" else "::",
                        lambda p: ml._user(p, age_at=age_at, gender_at=gender_at), skip_bad)
    parse_item = ml._item_100k if sep == "\t" else ml._item_1m
    items = parse_lines(folder / files[2], "|" if sep == "\t" else "::",
                        lambda p: (parse_item(p), p[1]), skip_bad, encoding=encoding)
    r = np.array(ratings.values, dtype=np.int64).reshape(-1, 4)
    frac = np.vectorize(ml.WATCH_FRACTION.get)(r[:, 2]) if r.size else np.zeros(0)
    interactions = pd.DataFrame({
        "user_id": r[:, 0].astype(str), "item_id": r[:, 1].astype(str), "ts_ms": r[:, 3] * 1000.0,
        "watch_ms": frac * ml.DURATION_S * 1000, "like": (r[:, 2] >= 4).astype(np.int8),
        "engaged": np.ones(r.shape[0], np.int8)})
    genres = ml.ML1M_GENRES
    item_rows = [(str(i), title, genres[c - 1] if sep == "::" and 1 <= c <= len(genres) else f"genre {c}",
                  str(ml.DURATION_S)) for (i, (_, c, _)), title in items.values]
    item_df = pd.DataFrame(item_rows, columns=["item_id", "title", "category", "duration_s"])
    user_df = pd.DataFrame([(str(u), str(a), str(g), str(r_)) for u, (a, g, r_) in users.values],
                           columns=["user_id", "age_bucket", "gender", "region"])
    skipped = ratings.skipped + users.skipped + items.skipped
    return Source(interactions, item_df, user_df, skipped, str(folder))
