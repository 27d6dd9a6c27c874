"""A synthetic short-video world with ground truth.

Users have latent tastes, videos have latent traits; what users watch, like, share and
follow is drawn from those, so any feed can be scored against the truth (oracle relevance).
The world has power-law popularity (exposure weights with a Pareto tail), author loyalty
(follows raise affinity), regional taste, freshness decay and slow interest drift.
Deterministic from the seed.

    python -m training.world --out data/world --users 2000 --videos 6000 --seed 7

Ids start at 1 (0 means "unknown" everywhere in this project). Video ids are assigned in
publish order, so "published before t" is a prefix of the id range.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

DAY_MS = 24 * 3600 * 1000
# 2026-01-01T00:00:00Z: worlds are anchored at a fixed date so a seed gives the same world.
WORLD_START_MS = 1_767_225_600_000
N_AGE_BUCKETS = 6
N_GENDERS = 2
N_DEVICES = 3
# Outcome model: P(outcome) = sigmoid(OUTCOME_SLOPE * affinity - bias); the watched fraction
# is sigmoid(affinity - WATCH_BIAS + noise) * 1.1 (over 1 = rewatched).
OUTCOME_SLOPE = 1.5
LIKE_BIAS, SHARE_BIAS, FOLLOW_BIAS = 7.0, 9.0, 10.0
WATCH_BIAS = 3.7


@dataclass(frozen=True)
class WorldConfig:
    seed: int = 7
    n_users: int = 2000
    n_authors: int = 300
    n_videos: int = 6000
    n_categories: int = 16
    n_tags: int = 64
    n_regions: int = 5
    dim: int = 16
    days: int = 14
    sessions_per_user: float = 8.0
    impressions_per_session: int = 10
    # How much a user's taste rotates over the whole window (0 = no drift).
    drift: float = 0.5
    # Weight of taste (cosine of taste and trait) in the true appeal logit.
    taste_weight: float = 5.0
    # How much the legacy recommender that produced the logs follows the truth (0 = random
    # among its popularity-sampled pool); its noise is a unit Gumbel.
    legacy_personalization: float = 1.0
    # Session moods: a share of sessions leans towards one category (short-term interest),
    # adding mood_weight * cos(mood centroid, item trait) to the appeal within that session.
    mood_share: float = 0.6
    mood_weight: float = 3.0
    # The last test_days of the log are the test window of the time split (training/data.py).
    test_days: float = 2.0

    def validate(self) -> None:
        for name in ("n_users", "n_authors", "n_videos", "n_categories", "n_tags",
                     "n_regions", "dim", "days", "impressions_per_session"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('n_', '').replace('_', '-')} must be >= 1")
        if self.n_tags < self.n_categories:
            raise ValueError("--tags must be >= --categories")
        if self.sessions_per_user <= 0:
            raise ValueError("--sessions-per-user must be > 0")

    @property
    def end_ms(self) -> int:
        return WORLD_START_MS + self.days * DAY_MS


TABLES = {
    "users": ("user_id", "age_bucket", "gender", "region", "device", "register_ms"),
    "authors": ("author_id", "region", "main_category", "quality"),
    "videos": ("item_id", "author_id", "category", "tags", "duration_s", "publish_ms",
               "region", "quality", "exposure"),
    "follows": ("user_id", "author_id", "ts_ms"),
    "impressions": ("user_id", "item_id", "ts_ms", "device", "watch_ms", "like", "share",
                    "follow"),
    "truth": ("user_taste", "user_drift", "item_trait", "region_taste", "category_centroid"),
}


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


@dataclass
class World:
    config: WorldConfig
    users: dict[str, np.ndarray] = field(default_factory=dict)
    authors: dict[str, np.ndarray] = field(default_factory=dict)
    videos: dict[str, np.ndarray] = field(default_factory=dict)
    follows: dict[str, np.ndarray] = field(default_factory=dict)
    impressions: dict[str, np.ndarray] = field(default_factory=dict)
    truth: dict[str, np.ndarray] = field(default_factory=dict)

    # ---- the ground truth -------------------------------------------------------------
    def taste_at(self, user_idx: np.ndarray, ts_ms) -> np.ndarray:
        """Users' latent taste at time ts (drifting slowly over the window)."""
        frac = (np.asarray(ts_ms, dtype=np.float64) - WORLD_START_MS) / (self.config.days * DAY_MS)
        frac = np.clip(frac, 0.0, 2.0)[..., None]
        t = self.truth
        return _unit(t["user_taste"][user_idx] + self.config.drift * frac * t["user_drift"][user_idx])

    def category_traits(self) -> np.ndarray:
        """[n_categories + 1, dim] the mean trait of each category's videos (row = category
        code): what a video's category says of its trait. A model that has not learned a video's
        own trait from its interactions can at best know this."""
        v, trait = self.videos, self.truth["item_trait"]
        return np.stack([trait[v["category"] == c].mean(axis=0) if np.any(v["category"] == c)
                         else np.zeros(trait.shape[1]) for c in range(int(v["category"].max()) + 1)])

    def affinity(self, user_idx: np.ndarray, item_idx: np.ndarray, ts_ms,
                 follows_author: np.ndarray | float = 0.0, mood: int = -1,
                 trait: np.ndarray | None = None) -> np.ndarray:
        """The true appeal (a logit) of items to users at time ts; 0-based indices.
        `mood` is a 0-based category the session leans towards (-1 = none); `trait` replaces
        the items' true traits (a partial oracle's view of them)."""
        taste = self.taste_at(user_idx, ts_ms)
        trait = self.truth["item_trait"][item_idx] if trait is None else trait
        v = self.videos
        age_days = np.clip((np.asarray(ts_ms) - v["publish_ms"][item_idx]) / DAY_MS, 0, 30)
        same_region = (self.users["region"][user_idx] == v["region"][item_idx]).astype(float)
        mood_term = 0.0
        if mood >= 0:
            mood_term = self.config.mood_weight * (trait @ self.truth["category_centroid"][mood])
        return (self.config.taste_weight * np.sum(taste * trait, axis=-1) + v["quality"][item_idx]
                + 0.3 * same_region + 1.0 * follows_author - 0.05 * age_days + mood_term)

    def oracle_relevance(self, user_id: int, item_ids: np.ndarray, ts_ms: int) -> np.ndarray:
        """Probability of a like, from the truth (for scoring feeds)."""
        items = np.asarray(item_ids, dtype=np.int64) - 1
        users = np.full(items.shape, user_id - 1)
        return _sigmoid(OUTCOME_SLOPE * self.affinity(users, items, ts_ms) - LIKE_BIAS)

    # ---- the world goes on ----------------------------------------------------------------
    def upload_rate_per_day(self) -> float:
        """Videos published per day in the generated window (generate() spreads them evenly)."""
        return self.config.n_videos / (1.7 * self.config.days)

    def publish(self, n: int, publish_ms: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """`n` new videos published at `publish_ms` by the world's authors, drawn as generate()
        draws the catalog (authors by their share of it, 80% in their own category, traits around
        the category centroid, quality around the author's); appended to `videos` and the truth
        with the next ids. Returns the new rows."""
        c, v, t = self.config, self.videos, self.truth
        counts = np.bincount(v["author_id"] - 1, minlength=c.n_authors).astype(float) + 0.1
        author = rng.choice(c.n_authors, n, p=counts / counts.sum())
        a_cat = self.authors["main_category"][author] - 1
        cat = np.where(rng.random(n) < 0.8, a_cat, rng.integers(0, c.n_categories, n))
        trait = _unit(t["category_centroid"][cat] + 0.6 * rng.normal(size=(n, c.dim)))
        quality = self.authors["quality"][author] + rng.normal(0, 0.5, n)
        tags_per_cat = max(1, c.n_tags // c.n_categories)
        start = int(v["item_id"].max()) + 1 if v["item_id"].size else 1
        new = {
            "item_id": np.arange(start, start + n, dtype=np.int64), "author_id": (author + 1).astype(np.int64),
            "category": (cat + 1).astype(v["category"].dtype),
            "tags": (cat[:, None] * tags_per_cat + rng.integers(0, tags_per_cat, (n, 3)) + 1).astype(np.int64),
            "duration_s": np.clip(rng.lognormal(np.log(30), 0.6, n), 5, 180).astype(np.float32),
            "publish_ms": np.full(n, publish_ms, dtype=np.int64),
            "region": self.authors["region"][author].astype(v["region"].dtype), "quality": quality,
            "exposure": (rng.pareto(1.2, n) + 0.05) * np.exp(0.8 * quality)}
        for k, col in new.items():
            v[k] = np.concatenate([v[k], col.astype(v[k].dtype)])
        t["item_trait"] = np.concatenate([t["item_trait"], trait.astype(t["item_trait"].dtype)])
        return new

    # ---- storage ------------------------------------------------------------------------
    def save(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        for table in TABLES:
            np.savez(out / f"{table}.npz", **getattr(self, table))
        (out / "world.json").write_text(json.dumps(asdict(self.config), indent=2))

    @classmethod
    def load(cls, folder: Path) -> World:
        folder = Path(folder)
        meta = folder / "world.json"
        if not meta.exists():
            raise FileNotFoundError(f"{meta}: no world here (run `python -m training.world`)")
        world = cls(WorldConfig(**json.loads(meta.read_text())))
        for table in TABLES:
            with np.load(folder / f"{table}.npz", allow_pickle=False) as data:
                setattr(world, table, {k: data[k] for k in data.files})
        return world


def generate(config: WorldConfig, progress: bool = True) -> World:
    config.validate()
    rng = np.random.default_rng(config.seed)
    c = config
    world = World(c)

    centroid = _unit(rng.normal(size=(c.n_categories, c.dim)))
    region_taste = rng.normal(size=(c.n_regions, c.dim)) * 0.35

    # Authors: each specialises in one category; prolificness has a heavy tail.
    a_cat = rng.integers(0, c.n_categories, c.n_authors)
    a_region = rng.integers(1, c.n_regions + 1, c.n_authors)
    a_quality = rng.normal(0, 0.4, c.n_authors)
    a_weight = rng.pareto(1.5, c.n_authors) + 0.1

    # Videos, in publish order: ~40% predate the window, the rest arrive during it.
    start, end = WORLD_START_MS, c.end_ms
    publish = np.sort(rng.uniform(start - 0.7 * c.days * DAY_MS, end, c.n_videos)).astype(np.int64)
    v_author = rng.choice(c.n_authors, c.n_videos, p=a_weight / a_weight.sum())
    own = rng.random(c.n_videos) < 0.8
    v_cat = np.where(own, a_cat[v_author], rng.integers(0, c.n_categories, c.n_videos))
    trait = _unit(centroid[v_cat] + 0.6 * rng.normal(size=(c.n_videos, c.dim)))
    quality = a_quality[v_author] + rng.normal(0, 0.5, c.n_videos)
    # Exposure under the logging policy: power law, tilted towards quality.
    exposure = (rng.pareto(1.2, c.n_videos) + 0.05) * np.exp(0.8 * quality)
    tags_per_cat = max(1, c.n_tags // c.n_categories)
    tags = (v_cat[:, None] * tags_per_cat + rng.integers(0, tags_per_cat, (c.n_videos, 3))) + 1
    duration = np.clip(rng.lognormal(np.log(30), 0.6, c.n_videos), 5, 180).astype(np.float32)

    # Users: tastes mix one to three categories plus their region's taste.
    n_mix = rng.integers(1, 4, c.n_users)
    mix = np.zeros((c.n_users, c.n_categories))
    for k in range(3):
        cats = rng.integers(0, c.n_categories, c.n_users)
        mix[np.arange(c.n_users), cats] += (k < n_mix) * rng.uniform(0.5, 1.0, c.n_users)
    u_region = rng.integers(1, c.n_regions + 1, c.n_users)
    taste = _unit(mix @ centroid + region_taste[u_region - 1] + 0.3 * rng.normal(size=(c.n_users, c.dim)))
    drift = _unit(rng.normal(size=(c.n_users, c.dim)))
    activity = rng.lognormal(0, 0.6, c.n_users)

    world.users = {
        "user_id": np.arange(1, c.n_users + 1, dtype=np.int64),
        "age_bucket": rng.integers(1, N_AGE_BUCKETS + 1, c.n_users),
        "gender": rng.integers(1, N_GENDERS + 1, c.n_users),
        "region": u_region,
        "device": rng.integers(1, N_DEVICES + 1, c.n_users),
        "register_ms": (start - rng.uniform(0, 365, c.n_users) * DAY_MS).astype(np.int64),
    }
    world.authors = {"author_id": np.arange(1, c.n_authors + 1, dtype=np.int64),
                     "region": a_region, "main_category": a_cat + 1, "quality": a_quality}
    world.videos = {
        "item_id": np.arange(1, c.n_videos + 1, dtype=np.int64), "author_id": v_author + 1,
        "category": v_cat + 1, "tags": tags.astype(np.int64), "duration_s": duration,
        "publish_ms": publish, "region": a_region[v_author], "quality": quality,
        "exposure": exposure,
    }
    world.truth = {"user_taste": taste, "user_drift": drift, "item_trait": trait,
                   "region_taste": region_taste, "category_centroid": centroid}

    # Initial follow edges: loyalty to authors of the categories a user likes.
    author_aff = taste @ centroid[a_cat].T  # [users, authors]
    follow_rows: list[tuple[int, int, int]] = []
    following = [set() for _ in range(c.n_users)]
    n_follow = rng.poisson(3, c.n_users)
    for u in range(c.n_users):
        if n_follow[u] == 0:
            continue
        p = np.exp(4 * author_aff[u])
        picks = rng.choice(c.n_authors, min(n_follow[u], c.n_authors), replace=False, p=p / p.sum())
        for a in picks:
            following[u].add(int(a))
            follow_rows.append((u + 1, int(a) + 1, int(start - rng.uniform(0, 60) * DAY_MS)))

    _simulate_log(world, rng, activity, following, follow_rows, progress)
    rows = np.array(follow_rows, dtype=np.int64).reshape(-1, 3)
    world.follows = {"user_id": rows[:, 0], "author_id": rows[:, 1], "ts_ms": rows[:, 2]}
    return world


def react(affinity: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """A user's reactions to shown items of these true affinities (logits): the watched
    fraction of each (over 1 = rewatched) and whether they like / share / follow its author.
    The logged world and the closed-loop simulator (training/simulate.py) share this."""
    k = affinity.size
    frac = _sigmoid(affinity - WATCH_BIAS + rng.normal(0, 0.7, k)) * 1.1
    like = rng.random(k) < _sigmoid(OUTCOME_SLOPE * affinity - LIKE_BIAS)
    share = rng.random(k) < _sigmoid(OUTCOME_SLOPE * affinity - SHARE_BIAS)
    follow = rng.random(k) < _sigmoid(OUTCOME_SLOPE * affinity - FOLLOW_BIAS)
    return frac, like, share, follow


def _simulate_log(world: World, rng, activity, following, follow_rows, progress: bool) -> None:
    """Impressions under a noisy legacy recommender, and users' reactions to them."""
    c = world.config
    v = world.videos
    # The legacy candidate pool is drawn with a flattened exposure, so the tail gets some traffic.
    cum_exposure = np.cumsum(v["exposure"] ** 0.6)
    pool_size = 200
    cols: dict[str, list[np.ndarray]] = {k: [] for k in TABLES["impressions"]}
    for u in tqdm(range(c.n_users), desc="world: users", disable=not progress, unit="user"):
        n_sessions = rng.poisson(c.sessions_per_user * activity[u]) + 1
        times = np.sort(rng.uniform(WORLD_START_MS, c.end_ms, n_sessions)).astype(np.int64)
        device = world.users["device"][u]
        # Moods follow the user's taste mostly, sometimes a category out of the blue.
        cat_aff = world.truth["category_centroid"] @ world.truth["user_taste"][u]
        p_mood = np.exp(3 * cat_aff)
        p_mood = 0.7 * p_mood / p_mood.sum() + 0.3 / c.n_categories
        for ts in times:
            mood = int(rng.choice(c.n_categories, p=p_mood)) if rng.random() < c.mood_share else -1
            n_published = int(np.searchsorted(v["publish_ms"], ts, side="right"))
            if n_published == 0:
                continue
            draws = rng.random(pool_size) * cum_exposure[n_published - 1]
            pool = np.unique(np.searchsorted(cum_exposure, draws, side="right"))
            pool = pool[pool < n_published]
            follows = np.fromiter((a in following[u] for a in v["author_id"][pool] - 1),
                                  dtype=float, count=pool.size)
            aff = world.affinity(np.full(pool.size, u), pool, ts, follows, mood)
            # The legacy recommender sees the truth through heavy noise.
            k = min(c.impressions_per_session, pool.size)
            shown = np.argsort(-(c.legacy_personalization * aff + rng.gumbel(size=pool.size)))[:k]
            items, a = pool[shown], aff[shown]
            frac, like, share, follow = react(a, rng)
            follow &= follows[shown] == 0
            for item in items[follow]:
                author = int(v["author_id"][item]) - 1
                following[u].add(author)
                follow_rows.append((u + 1, author + 1, int(ts)))
            offsets = np.arange(k, dtype=np.int64) * 20_000  # ~20 s per video in a session
            cols["user_id"].append(np.full(k, u + 1, dtype=np.int64))
            cols["item_id"].append(items.astype(np.int64) + 1)
            cols["ts_ms"].append(ts + offsets)
            cols["device"].append(np.full(k, device, dtype=np.int64))
            cols["watch_ms"].append((frac * v["duration_s"][items] * 1000).astype(np.int64))
            cols["like"].append(like.astype(np.int8))
            cols["share"].append(share.astype(np.int8))
            cols["follow"].append(follow.astype(np.int8))
    imp = {k: np.concatenate(vs) for k, vs in cols.items()}
    order = np.argsort(imp["ts_ms"], kind="stable")
    world.impressions = {k: arr[order] for k, arr in imp.items()}


def main(argv: list[str] | None = None) -> int:
    d = WorldConfig()
    p = argparse.ArgumentParser(prog="python -m training.world", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("data/world"), help="output folder")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--users", type=int, default=d.n_users)
    p.add_argument("--authors", type=int, default=d.n_authors)
    p.add_argument("--videos", type=int, default=d.n_videos)
    p.add_argument("--categories", type=int, default=d.n_categories)
    p.add_argument("--tags", type=int, default=d.n_tags)
    p.add_argument("--regions", type=int, default=d.n_regions)
    p.add_argument("--days", type=int, default=d.days)
    p.add_argument("--sessions-per-user", type=float, default=d.sessions_per_user)
    args = p.parse_args(argv)
    config = WorldConfig(seed=args.seed, n_users=args.users, n_authors=args.authors,
                         n_videos=args.videos, n_categories=args.categories, n_tags=args.tags,
                         n_regions=args.regions, days=args.days,
                         sessions_per_user=args.sessions_per_user)
    try:
        config.validate()
    except ValueError as err:
        p.error(str(err))
    world = generate(config)
    world.save(args.out)
    n = world.impressions["user_id"].size
    print(f"world: {config.n_users} users, {config.n_videos} videos, {n} impressions, "
          f"{int(world.impressions['like'].sum())} likes -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
