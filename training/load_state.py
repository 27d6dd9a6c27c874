"""Load the world's online state into Redis (key layout: core/store/keys.py).

    python -m training.load_state --world data/world [--redis-url URL] [--prefix recsys]
    python -m training.load_state --data path/to/folder   # an imported log (training/importers/prepared.py)

Per user: profile, recent engaged items (capped), seen set, follows. Hot lists: the last
HOT_WINDOW_H hours of the world's engagement in hourly buckets, globally and per region.
Per video: display info (title, cover, author name, duration, tags): generated for the
synthetic world (training/display.py), the dataset's own for an imported log. The meta hash
names the dataset loaded (its content hash; "" for the synthetic world), so a prefix that
holds another dataset's state is reloaded.
World time is mapped onto wall-clock time (the world's end = now), and the offset is stored
in the meta hash so services can translate.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import redis
from tqdm import tqdm

from core.feedback import HOT_WEIGHTS, EventKind
from core.store import keys as K
from core.store.item_meta import ItemMeta, queue_write
from core.store.keys import Keys
from training.data import engaged_mask
from training.display import video_meta
from training.world import World

LOADED_FIELD = "loaded_at_ms"
DATASET_FIELD = "dataset"


def hot_increments(world: World, offset_ms: int, now_ms: int) -> dict[tuple[str, int], dict[int, float]]:
    """(scope, bucket) -> {item_id: score} over the last HOT_WINDOW_H hours."""
    imp = world.impressions
    wall = imp["ts_ms"] + offset_ms
    recent = wall >= now_ms - K.HOT_WINDOW_H * K.HOT_BUCKET_MS
    engaged = engaged_mask(world) & recent
    score = (HOT_WEIGHTS[EventKind.VIEW] * engaged + HOT_WEIGHTS[EventKind.LIKE] * (imp["like"] > 0)
             + HOT_WEIGHTS[EventKind.SHARE] * (imp["share"] > 0)) * recent
    rows = np.flatnonzero(score > 0)
    region = world.users["region"][imp["user_id"][rows] - 1]
    out: dict[tuple[str, int], dict[int, float]] = {}
    for r, reg in zip(rows, region):
        bucket = K.hot_bucket(wall[r])
        item = int(imp["item_id"][r])
        for scope in (K.GLOBAL_SCOPE, K.region_scope(reg)):
            d = out.setdefault((scope, bucket), {})
            d[item] = d.get(item, 0.0) + float(score[r])
    return out


def load(world: World, client: redis.Redis, keys: Keys, now_ms: int | None = None,
         progress: bool = True, display: dict[int, ItemMeta] | None = None, dataset: str = "") -> dict[str, int]:
    """`display`: item id -> display info (default: generated for the synthetic world);
    `dataset`: the imported dataset's content hash, recorded for `is_loaded`."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    offset = now_ms - world.config.end_ms
    imp, users = world.impressions, world.users
    engaged = engaged_mask(world)
    order = np.lexsort((-imp["ts_ms"], imp["user_id"]))  # per user, newest first
    uid_sorted = imp["user_id"][order]
    bounds = np.searchsorted(uid_sorted, np.arange(1, world.config.n_users + 2))
    f_order = np.argsort(world.follows["user_id"], kind="stable")
    f_uid = world.follows["user_id"][f_order]
    f_bounds = np.searchsorted(f_uid, np.arange(1, world.config.n_users + 2))
    n_users = world.config.n_users

    # Replace whatever this prefix held before: a reload is a fresh start.
    for chunk in _chunks(client.scan_iter(match=keys.pattern(), count=1000), 1000):
        client.unlink(*chunk)

    pipe = client.pipeline(transaction=False)
    for u in tqdm(range(n_users), desc="redis: users", unit="user", disable=not progress):
        uid = u + 1
        rows = order[bounds[u]:bounds[u + 1]]
        pipe.hset(keys.profile(uid), mapping={"age_bucket": int(users["age_bucket"][u]),
                                               "gender": int(users["gender"][u]),
                                               "region": int(users["region"][u])})
        seq = imp["item_id"][rows[engaged[rows]]]
        # Distinct items, newest first: what the event writer keeps (LREM + LPUSH), so a user
        # loaded in bulk and a user built event by event look the same to the models.
        _, first = np.unique(seq, return_index=True)
        seq = seq[np.sort(first)][: K.SEQ_CAP]
        if seq.size:
            pipe.rpush(keys.seq(uid), *seq.tolist())
        # The most recent SEEN_CAP items seen, scored by when (the layout keeps no more).
        last_seen = dict(zip(imp["item_id"][rows][::-1].tolist(), imp["ts_ms"][rows][::-1].tolist()))
        if last_seen:
            recent = sorted(last_seen.items(), key=lambda kv: kv[1])[-K.SEEN_CAP:]
            pipe.zadd(keys.seen(uid), {item: ts + offset for item, ts in recent})
            pipe.expire(keys.seen(uid), K.SEEN_TTL_S)
        # The latest views with their watch times, newest first, as the event writer keeps
        # them (every logged impression is a view). The versions were fitted on these rows, so
        # the rank stage folds none of them in twice (their times are before the fit's end).
        last = rows[: K.WATCHED_CAP]
        if last.size:
            pipe.rpush(keys.watched(uid), *[f"{i}:{w}:{t + offset}" for i, w, t in zip(
                imp["item_id"][last].tolist(), imp["watch_ms"][last].tolist(), imp["ts_ms"][last].tolist())])
            pipe.expire(keys.watched(uid), K.SEEN_TTL_S)
        follows = world.follows["author_id"][f_order[f_bounds[u]:f_bounds[u + 1]]]
        if follows.size:
            pipe.sadd(keys.follows(uid), *np.unique(follows).tolist())
        if len(pipe) >= 2000:
            pipe.execute()
    for item_id, meta in (video_meta(world) if display is None else display).items():
        queue_write(pipe, keys, item_id, meta)
        if len(pipe) >= 2000:
            pipe.execute()
    hot = hot_increments(world, offset, now_ms)
    for (scope, bucket), scores in hot.items():
        key = keys.hot(scope, bucket)
        pipe.zadd(key, scores)
        pipe.pexpireat(key, (bucket + K.HOT_WINDOW_H + 1) * K.HOT_BUCKET_MS)
    pipe.hset(keys.meta(), mapping={"world_offset_ms": offset, LOADED_FIELD: now_ms, DATASET_FIELD: dataset})
    pipe.execute()
    return {"users": n_users, "videos": len(world.videos["item_id"]), "hot_buckets": len(hot)}


def _chunks(iterable, size):
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def is_loaded(client: redis.Redis, keys: Keys, dataset: str = "") -> bool:
    """Whether this prefix holds a finished load of this dataset ("" = the synthetic world)."""
    loaded, name = client.hmget(keys.meta(), [LOADED_FIELD, DATASET_FIELD])
    return loaded is not None and (name or b"").decode() == dataset


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.load_state", description=__doc__.split("\n")[0])
    p.add_argument("--world", type=Path, default=Path("data/world"))
    p.add_argument("--data", type=Path, help="a log folder (imported first if needed) instead of --world")
    p.add_argument("--data-root", type=Path, default=Path("data/datasets"))
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--prefix", default="recsys")
    args = p.parse_args(argv)
    display, dataset = None, ""
    if args.data is not None:
        from training.importers import BadInput
        from training.importers.prepared import prepare
        try:
            prepared = prepare(args.data, args.data_root, say=lambda m: print(m, file=sys.stderr))
        except BadInput as err:
            p.error(f"--data: {err}")
        args.world, display, dataset = prepared.world_dir, prepared.display(), prepared.content_hash
    try:
        world = World.load(args.world)
    except FileNotFoundError as err:
        p.error(f"--world: {err}")
    client = redis.Redis.from_url(args.redis_url)
    try:
        client.ping()
    except redis.RedisError as err:
        p.error(f"--redis-url {args.redis_url}: {err}")
    stats = load(world, client, Keys(args.prefix), display=display, dataset=dataset)
    print(f"redis: loaded {stats} under prefix {args.prefix!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
