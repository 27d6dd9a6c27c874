"""The synthetic world's log as a MovieLens-100K folder: the "ratings as impressions" regime,
where a log holds only what users chose to rate and every row is a positive.

    python -m training.ratings_view --world data/world --out /tmp/ratings-world
    python -m training.evaluate --dataset movielens --path /tmp/ratings-world --out reports/eval-ratings-world.json

MovieLens itself is not in the repository (and nothing is downloaded), but a check outside
the project scores the feed on a MovieLens-style split; this view puts the same shape of log
through the same importer (training/importers/movielens.py), so the regime can be evaluated
here. Kept: the rows a user engaged with (watched at least `MIN_FRACTION` of the video, or
liked it), the first per (user, video), as a rating from the watched fraction (a like is a
5). Videos keep their category (as the first genre, modulo the 19 MovieLens genres); users
get one age, gender and occupation, and a zip code that the importer reads as their region.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from training.world import World

MIN_FRACTION = 0.3
# watched fraction -> rating: < 0.45 is 1, < 0.6 is 2, < 0.8 is 3, < 0.95 is 4, else 5
RATING_EDGES = (0.45, 0.6, 0.8, 0.95)
N_GENRES = 19


def ratings(world: World) -> dict[str, np.ndarray]:
    """user_id, item_id, rating, ts_s of the kept rows, in log order."""
    imp, v = world.impressions, world.videos
    frac = imp["watch_ms"] / (v["duration_s"][imp["item_id"] - 1] * 1000.0)
    rating = np.digitize(frac, RATING_EDGES) + 1
    rating[imp["like"] > 0] = 5
    rows = np.flatnonzero((frac >= MIN_FRACTION) | (imp["like"] > 0))
    _, first = np.unique(imp["user_id"][rows] * (int(v["item_id"].max()) + 1) + imp["item_id"][rows],
                         return_index=True)
    rows = rows[np.sort(first)]
    return {"user_id": imp["user_id"][rows], "item_id": imp["item_id"][rows], "rating": rating[rows],
            "ts_s": imp["ts_ms"][rows] // 1000}


def write(world: World, out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    r = ratings(world)
    with open(out / "u.data", "w") as f:
        f.writelines(f"{u}\t{i}\t{s}\t{t}\n" for u, i, s, t in zip(*(r[k].tolist() for k in r)))
    with open(out / "u.item", "w", encoding="latin-1") as f:
        for item, category in zip(world.videos["item_id"].tolist(), world.videos["category"].tolist()):
            flags = ["0"] * N_GENRES
            flags[(category - 1) % N_GENRES] = "1"
            f.write(f"{item}|video {item}|01-Jan-1995||http://example.invalid/{item}|{'|'.join(flags)}\n")
    with open(out / "u.user", "w") as f:  # the zip code's first digit is the world's region - 1
        f.writelines(f"{uid}|30|M|other|{region - 1}0000\n"
                     for uid, region in zip(world.users["user_id"].tolist(), world.users["region"].tolist()))
    return {"ratings": int(r["rating"].size), "users": int(np.unique(r["user_id"]).size),
            "items": int(np.unique(r["item_id"]).size)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.ratings_view", description=__doc__.split("\n")[0])
    p.add_argument("--world", type=Path, default=Path("data/world"))
    p.add_argument("--out", type=Path, required=True, help="folder to write u.data, u.item, u.user into")
    args = p.parse_args(argv)
    if not (args.world / "world.json").exists():
        p.error(f"--world {args.world}: no world here (run `make world`)")
    print(write(World.load(args.world), args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
