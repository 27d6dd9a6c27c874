"""A small log in the generic schema, string ids included, for tests and examples.

    python -m training.importers.fixture --out data/example-log
    python -m training.importers.fixture --out data/world-log --from-world data/world   # a big log

Users ("user-<hex>") lean to one of a few categories and like what they lean to more often;
items ("vid_<k>", and a few bare integers, 0 among them) have string authors, categories,
tags, titles. One row per event (view, like, share, follow), times in ISO 8601.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

CATEGORIES = ("cooking", "pets", "travel", "music")
START = pd.Timestamp("2025-03-01T00:00:00Z")


def item_ids(n_items: int) -> list[str]:
    """Mostly "vid_<k>", every tenth a bare integer (0 included): ids of mixed form."""
    return [str(k) if k % 10 == 0 else f"vid_{k}" for k in range(n_items)]


def user_ids(n_users: int) -> list[str]:
    return [f"user-{k * 7919 % 65536:04x}" for k in range(n_users)]


def write(out: Path, n_users: int = 60, n_items: int = 80, views_per_user: int = 40, days: int = 6,
          seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    items, users = item_ids(n_items), user_ids(n_users)
    cat = rng.integers(0, len(CATEGORIES), n_items)
    author = rng.integers(0, 12, n_items)
    pd.DataFrame({
        "item_id": items, "author_id": [f"creator-{a}" for a in author],
        "author_name": [f"@creator{a}" for a in author],
        "category": [CATEGORIES[c] for c in cat],
        "tags": [f"{CATEGORIES[c]}|tag{k % 5}" for k, c in enumerate(cat)],
        "duration_s": rng.integers(8, 90, n_items), "title": [f"Clip {i}" for i in items],
        "publish_time": [(START - pd.Timedelta(days=int(d))).isoformat() for d in rng.integers(0, 20, n_items)],
    }).to_csv(out / "items.csv", index=False)
    lean = rng.integers(0, len(CATEGORIES), n_users)
    pd.DataFrame({"user_id": users, "age": rng.integers(16, 60, n_users),
                  "gender": rng.choice(["f", "m", "x"], n_users),
                  "region": rng.choice(["north", "south"], n_users)}).to_csv(out / "users.csv", index=False)
    rows = []
    for u, user in enumerate(users):
        t = START + pd.Timedelta(hours=float(rng.uniform(0, 24)))
        for _ in range(views_per_user):
            p = np.where(cat == lean[u], 4.0, 1.0)
            i = int(rng.choice(n_items, p=p / p.sum()))
            t += pd.Timedelta(minutes=float(rng.exponential(days * 24 * 60 / views_per_user)))
            likes = cat[i] == lean[u] and rng.random() < 0.5
            watch = int(rng.uniform(0.6, 1.0) * 60_000) if likes else int(rng.uniform(0.0, 0.4) * 60_000)
            rows.append((user, items[i], t.isoformat(), "view", watch))
            if likes:
                rows.append((user, items[i], (t + pd.Timedelta(seconds=5)).isoformat(), "like", 0))
                if rng.random() < 0.1:
                    rows.append((user, items[i], (t + pd.Timedelta(seconds=8)).isoformat(), "share", 0))
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event", "watch_ms"]).to_csv(
        out / "interactions.csv", index=False)
    return out


def write_world(world_dir: Path, out: Path, copies: int = 1) -> Path:
    """A generated world's log in the generic schema (label columns, epoch ms): a log of any
    size for measuring the import and training path (`python -m training.world --users N`).
    `copies` > 1 writes the log that many times, each copy with its own users ("<copy>-<id>"):
    a bigger log from one generated world (generating is the slow part)."""
    from training.world import World
    world = World.load(world_dir)
    out.mkdir(parents=True, exist_ok=True)
    imp, v, u = world.impressions, world.videos, world.users
    log = pd.DataFrame({c: imp[c] for c in ("user_id", "item_id", "ts_ms", "watch_ms", "like", "share", "follow")})
    users = pd.DataFrame({"user_id": u["user_id"], "age_bucket": u["age_bucket"], "gender": u["gender"],
                          "region": u["region"]})
    for k in range(copies):
        if copies > 1:
            log["user_id"] = [f"{k}-{x}" for x in imp["user_id"]]
            users["user_id"] = [f"{k}-{x}" for x in u["user_id"]]
        log.to_csv(out / "interactions.csv", index=False, mode="w" if k == 0 else "a", header=k == 0)
        users.to_csv(out / "users.csv", index=False, mode="w" if k == 0 else "a", header=k == 0)
    pd.DataFrame({"item_id": v["item_id"], "author_id": v["author_id"], "category": v["category"],
                  "tags": ["|".join(map(str, t)) for t in v["tags"]], "duration_s": v["duration_s"],
                  "publish_ts_ms": v["publish_ms"]}).to_csv(out / "items.csv", index=False)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.importers.fixture", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--from-world", type=Path, help="write this generated world's log instead")
    p.add_argument("--copies", type=int, default=1, help="with --from-world: the log this many times, "
                   "each copy with its own users")
    p.add_argument("--users", type=int, default=60)
    p.add_argument("--items", type=int, default=80)
    args = p.parse_args(argv)
    if args.from_world:
        write_world(args.from_world, args.out, args.copies)
    else:
        write(args.out, args.users, args.items)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
