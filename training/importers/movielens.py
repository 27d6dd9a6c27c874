"""MovieLens: ml-100k (`u.data`, `u.item`, `u.user`) and ml-1m (`ratings.dat`, `movies.dat`,
`users.dat`), detected by which files the folder holds.

Mapping onto the short-video schema: a rating is an impression; rating >= 4 is a like; the
watched fraction grows with the rating (1: 10%, 2: 25%, 3: 45%, 4: 75%, 5: 100%), so a
rating of 4 or 5 is an engagement and 5 a completion; there are no shares, follows or
authors (one author for all); the first genre is the category; a movie lasts 100 s (only
fractions matter); age bucket and gender from the user file; region from the first digit
of the zip code (1..10).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from training.importers.common import BadInput, Rows, age_bucket, build_world, parse_lines
from training.world import World

WATCH_FRACTION = {1: 0.10, 2: 0.25, 3: 0.45, 4: 0.75, 5: 1.0}
DURATION_S = 100.0
ML1M_GENRES = ("Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
               "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
               "Western")


def _rating(parts: list[str]) -> tuple[int, int, int, int]:
    user, item, rating, ts = (int(p) for p in parts[:4])
    if not 1 <= rating <= 5:
        raise ValueError(f"rating {rating} not in 1..5")
    return user, item, rating, ts


def _region(zip_code: str) -> int:
    return int(zip_code[0]) + 1 if zip_code[:1].isdigit() else 0


def _user(parts: list[str], age_at: int, gender_at: int) -> tuple[int, tuple[int, int, int]]:
    """A user row: ml-100k (id|age|gender|occupation|zip) or ml-1m (id::gender::age::occupation::zip)."""
    uid, age, gender, zip_code = parts[0], parts[age_at], parts[gender_at], parts[4]
    if gender not in ("M", "F"):
        raise ValueError(f"gender {gender!r}")
    return int(uid), (age_bucket(int(age)), 1 if gender == "M" else 2, _region(zip_code))


def _item_100k(parts: list[str]) -> tuple[int, tuple[int, int, float]]:
    flags = [int(x) for x in parts[5:24]]
    if len(flags) != 19:
        raise ValueError(f"{len(flags)} genre flags, expected 19")
    return int(parts[0]), (1, next((g + 1 for g, f in enumerate(flags) if f), 1), DURATION_S)


def _item_1m(parts: list[str]) -> tuple[int, tuple[int, int, float]]:
    if len(parts) < 3:
        raise ValueError("expected MovieID::Title::Genres")
    genre = parts[-1].split("|")[0]
    return int(parts[0]), (1, ML1M_GENRES.index(genre) + 1 if genre in ML1M_GENRES else 1, DURATION_S)


def load(path: Path, skip_bad: bool = False) -> World:
    if (path / "u.data").exists():
        ratings = parse_lines(path / "u.data", "\t", _rating, skip_bad)
        users = parse_lines(path / "u.user", "|", lambda p: _user(p, age_at=1, gender_at=2), skip_bad)
        items = parse_lines(path / "u.item", "|", _item_100k, skip_bad, encoding="latin-1")
    elif (path / "ratings.dat").exists():
        ratings = parse_lines(path / "ratings.dat", "::", _rating, skip_bad)
        users = parse_lines(path / "users.dat", "::", lambda p: _user(p, age_at=2, gender_at=1), skip_bad)
        items = parse_lines(path / "movies.dat", "::", _item_1m, skip_bad, encoding="latin-1")
    else:
        raise BadInput(f"{path}: neither ml-100k (u.data) nor ml-1m (ratings.dat) files here")
    return _world(ratings, dict(users.values), dict(items.values), str(path))


def _world(ratings: Rows, users: dict, items: dict, name: str) -> World:
    r = np.array(ratings.values, dtype=np.int64).reshape(-1, 4)
    frac = np.vectorize(WATCH_FRACTION.get)(r[:, 2]) if r.size else np.zeros(0)
    zeros = np.zeros(r.shape[0], np.int8)
    world = build_world(user_ids=r[:, 0], item_ids=r[:, 1], ts_ms=r[:, 3] * 1000,
                        watch_ms=(frac * DURATION_S * 1000).astype(np.int64), like=(r[:, 2] >= 4).astype(np.int8),
                        share=zeros, follow=zeros, users=users, items=items, name=name,
                        # a held-out positive is any rating (the usual implicit-feedback reading)
                        extra={"engaged": np.ones(r.shape[0], np.int8)})
    world.skipped_rows = ratings.skipped
    return world
