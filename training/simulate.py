"""Closed-loop simulator: the world's users scroll the live system, so a version is judged
before it ships.

    python -m training.simulate [--gateway 127.0.0.1:50050] [--users 200] [--rounds 10]
        [--count 10] [--experiments FILE] [--out reports/simulate.json]

Each simulated user is a world user with their true (latent) taste and a session mood. Per
round they ask the live gateway for a feed (`Recommend`), react to every item from the truth
(the world's own outcome model, `world.react`, plus fatigue for a category seen again within
the session and boredom for a video seen again), and report the reactions through
`ReportEvents` (views with watch time, likes, shares, follows) — so the next round's feed can
learn from them. Users are split into arms by the gateway's own experiment bucketing (the
`experiment` a response names; "control" when none). Two baselines run on the same users,
moods and random streams without the system: a random feed and a popularity feed (most
engaged videos of the logged window), so lifts are relative.

Without --gateway, the whole stack is started locally (as `make run` does; --experiments is
passed to its gateway). Bounded by --max-requests and --max-seconds; loopback addresses only.
Writes JSON, a Markdown summary and a PNG of the metrics by round per arm.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
from recsys.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc

from dev.net import check_loopback
from training.world import LIKE_BIAS, OUTCOME_SLOPE, World, _sigmoid, react

METRICS = ("like_rate", "watch_s", "oracle_relevance", "mood_share", "diversity", "novelty", "repeat_rate")
# Feeds computed here, without the system, on the same users: two floors (random, most popular)
# and ceilings that know the truth — `oracle` the user's taste and the session's mood,
# `oracle_taste` the taste only (a perfect long-term model that learns nothing in the session),
# `oracle_category_taste` the taste and everything of a video but its own trait, read as its
# category's mean trait (a perfect model that never learned a video from its interactions).
BASELINES = ("random", "popularity", "oracle", "oracle_taste", "oracle_category_taste")
FATIGUE = 0.4    # appeal lost per earlier item of the same category in the session
BOREDOM = 3.0    # appeal lost by a video the user was already shown in this run
ROUND_GAP_MS = 60_000


# ---- the users ---------------------------------------------------------------------------
@dataclass
class SimUser:
    user_id: int
    mood: int                      # 0-based category the session leans to, -1 none
    rng: np.random.Generator
    follows: set[int] = field(default_factory=set)   # 0-based authors
    shown: Counter = field(default_factory=Counter)  # item idx -> times shown this run
    categories: Counter = field(default_factory=Counter)


def make_users(world: World, n: int, seed: int, user_ids: list[int] | None = None) -> list[SimUser]:
    rng = np.random.default_rng(seed)
    c, t = world.config, world.truth
    ids = user_ids or sorted(rng.choice(np.arange(1, c.n_users + 1), min(n, c.n_users), replace=False).tolist())
    follows = defaultdict(set)
    for u, a in zip(world.follows["user_id"], world.follows["author_id"]):
        follows[int(u)].add(int(a) - 1)
    users = []
    for uid in ids:
        cat_aff = t["category_centroid"] @ t["user_taste"][uid - 1]
        p = np.exp(3 * cat_aff)
        p = 0.7 * p / p.sum() + 0.3 / c.n_categories
        mood = int(rng.choice(c.n_categories, p=p)) if rng.random() < c.mood_share else -1
        users.append(SimUser(int(uid), mood, np.random.default_rng([seed, uid]), set(follows[uid])))
    return users


def clone(users: list[SimUser], seed: int) -> list[SimUser]:
    """The same users, moods and random streams, fresh histories (for the baselines)."""
    return [SimUser(u.user_id, u.mood, np.random.default_rng([seed, u.user_id]), set(u.follows)) for u in users]


# ---- one round of one user -----------------------------------------------------------------
@dataclass
class Reaction:
    items: np.ndarray   # 0-based world item indices shown (unknown ids dropped)
    watch_ms: np.ndarray
    like: np.ndarray
    share: np.ndarray
    follow: np.ndarray
    metrics: dict[str, float]


def react_to(world: World, user: SimUser, item_ids: list[int], ts_ms: int, popularity: np.ndarray) -> Reaction:
    v, t = world.videos, world.truth
    ids = np.asarray(item_ids, dtype=np.int64)
    idx = ids[(ids >= 1) & (ids <= v["item_id"].size)] - 1
    u = np.full(idx.size, user.user_id - 1)
    authors = v["author_id"][idx] - 1
    follows = np.fromiter((a in user.follows for a in authors), float, idx.size)
    appeal = mood_appeal = world.affinity(u, idx, ts_ms, follows, user.mood)
    cats = v["category"][idx]
    repeat = np.fromiter((user.shown[i] > 0 for i in idx), bool, idx.size)
    seen_cat = np.zeros(idx.size)
    running = Counter(user.categories)
    for j, c in enumerate(cats):
        seen_cat[j] = running[c]
        running[c] += 1
    appeal = appeal - FATIGUE * seen_cat - BOREDOM * repeat
    frac, like, share, follow = react(appeal, user.rng)
    follow &= follows == 0
    for i, c in zip(idx, cats):
        user.shown[i] += 1
        user.categories[c] += 1
    for a in authors[follow]:
        user.follows.add(int(a))
    traits = t["item_trait"][idx]
    n = idx.size
    sims = traits @ traits.T
    diversity = float(1 - (sims.sum() - np.trace(sims)) / (n * (n - 1))) if n > 1 else 0.0
    metrics = {
        "like_rate": float(like.mean()) if n else 0.0,
        "watch_s": float((frac * v["duration_s"][idx]).mean()) if n else 0.0,
        # The truth at this moment: P(like) from the user's taste *and* session mood, before
        # fatigue/boredom (which the feed causes and which are measured by repeat/diversity).
        "oracle_relevance": float(_sigmoid(OUTCOME_SLOPE * mood_appeal - LIKE_BIAS).mean()) if n else 0.0,
        "diversity": diversity,
        "novelty": float(-np.log2(popularity[idx]).mean()) if n else 0.0,
        "repeat_rate": float(repeat.mean()) if n else 0.0,
        # Share of the feed in the category the session leans to (NaN for users without a
        # mood): the system can only learn it from this session's reactions.
        "mood_share": float((cats - 1 == user.mood).mean()) if n and user.mood >= 0 else float("nan"),
    }
    watch_ms = (frac * v["duration_s"][idx] * 1000).astype(np.int64)
    return Reaction(idx, watch_ms, like, share, follow, metrics)


def events_of(user: SimUser, r: Reaction, run_id: str, rnd: int, world: World) -> list[common_pb2.Event]:
    out = []
    for j, i in enumerate(r.items):
        item = int(i) + 1
        base = f"sim-{run_id}-{user.user_id}-{rnd}-{j}"
        out.append(common_pb2.Event(event_id=f"{base}-v", user_id=user.user_id, item_id=item,
                                    type=common_pb2.EVENT_TYPE_VIEW, watch_ms=int(r.watch_ms[j])))
        for flag, kind, tag in ((r.like, common_pb2.EVENT_TYPE_LIKE, "l"),
                                (r.share, common_pb2.EVENT_TYPE_SHARE, "s")):
            if flag[j]:
                out.append(common_pb2.Event(event_id=f"{base}-{tag}", user_id=user.user_id, item_id=item, type=kind))
        if r.follow[j]:
            out.append(common_pb2.Event(event_id=f"{base}-f", user_id=user.user_id, item_id=item,
                                        author_id=int(world.videos["author_id"][i]),
                                        type=common_pb2.EVENT_TYPE_FOLLOW))
    return out


# ---- running arms --------------------------------------------------------------------------
@dataclass
class Budget:
    max_requests: int
    deadline: float
    sent: int = 0

    def take(self) -> bool:
        if self.sent >= self.max_requests or time.monotonic() > self.deadline:
            return False
        self.sent += 1
        return True


async def run_system(address: str, world: World, users: list[SimUser], rounds: int, count: int,
                     concurrency: int, budget: Budget, popularity: np.ndarray, ts_ms: int,
                     api_key: str = "") -> tuple[dict, dict]:
    """Users scroll the live system; returns (per-user records by arm, counters)."""
    run_id = uuid.uuid4().hex[:8]
    metadata = [("x-api-key", api_key)] if api_key else None
    records: dict[str, dict[int, list[dict]]] = defaultdict(dict)
    counters = Counter()
    sem = asyncio.Semaphore(concurrency)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)

        async def session(user: SimUser) -> None:
            async with sem:
                for rnd in range(rounds):
                    if not budget.take():
                        counters["skipped_by_budget"] += 1
                        return
                    try:
                        reply = await stub.Recommend(gateway_pb2.RecommendRequest(
                            user_id=user.user_id, count=count), timeout=5, metadata=metadata)
                    except grpc.RpcError as err:
                        counters[f"recommend_{err.code().name}"] += 1
                        continue
                    counters["degraded"] += bool(reply.degraded)
                    arm = reply.experiment or "control"
                    r = react_to(world, user, [i.item_id for i in reply.items], ts_ms + rnd * ROUND_GAP_MS,
                                 popularity)
                    ranker = next((m.version for m in reply.models if m.name == "ranker"), "")
                    records[arm].setdefault(user.user_id, []).append(r.metrics | {"round": rnd, "ranker": ranker,
                                                                                  "items": r.items.tolist()})
                    events = events_of(user, r, run_id, rnd, world)
                    try:
                        ack = await stub.ReportEvents(gateway_pb2.ReportEventsRequest(events=events),
                                                      timeout=5, metadata=metadata)
                        counters["events_sent"] += len(events)
                        counters["events_acked"] += ack.accepted + ack.duplicates
                    except grpc.RpcError as err:
                        counters[f"events_{err.code().name}"] += 1
        await asyncio.gather(*(session(u) for u in users))
    return records, counters


def run_baseline(kind: str, world: World, users: list[SimUser], rounds: int, count: int,
                 popularity: np.ndarray, ts_ms: int, seed: int) -> dict[int, list[dict]]:
    n_items = world.videos["item_id"].size
    order = np.argsort(-popularity, kind="stable")
    rng = np.random.default_rng(seed)
    category_trait = world.category_traits()[world.videos["category"]]
    out = {}
    for user in users:
        recs = []
        for rnd in range(rounds):
            now = ts_ms + rnd * ROUND_GAP_MS
            if kind == "random":
                items = rng.choice(n_items, count, replace=False)
            elif kind == "popularity":  # most popular not yet shown to this user in this run
                items = np.array([i for i in order[: count * (rnd + 2)] if user.shown[i] == 0][:count])
            else:  # the truth's best not yet shown (with or without the session's mood)
                truth = world.affinity(np.full(n_items, user.user_id - 1), np.arange(n_items), now,
                                       np.isin(world.videos["author_id"] - 1, list(user.follows)),
                                       user.mood if kind == "oracle" else -1,
                                       category_trait if kind == "oracle_category_taste" else None)
                truth[list(user.shown)] = -np.inf
                items = np.argsort(-truth, kind="stable")[:count]
            r = react_to(world, user, (items + 1).tolist(), now, popularity)
            recs.append(r.metrics | {"round": rnd, "items": r.items.tolist()})
        out[user.user_id] = recs
    return out


# ---- statistics --------------------------------------------------------------------------
def _present(values) -> np.ndarray:
    """The values as floats, without NaN (a metric a user does not have, e.g. no mood)."""
    x = np.asarray(values, dtype=float)
    return x[~np.isnan(x)]


def mean_ci(values) -> dict[str, float]:
    x = _present(values)
    if x.size == 0:
        return {"mean": float("nan"), "ci95": float("nan"), "n": 0}
    se = x.std(ddof=1) / math.sqrt(x.size) if x.size > 1 else float("nan")
    return {"mean": round(float(x.mean()), 5), "ci95": round(1.96 * se, 5), "n": int(x.size)}


def compare(a, b) -> dict[str, float]:
    """Welch's z for mean(a) - mean(b) (per-user means; normal approximation)."""
    a, b = _present(a), _present(b)
    diff = float(a.mean() - b.mean())
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size) if a.size > 1 and b.size > 1 else float("nan")
    z = diff / se if se and se > 0 else float("nan")
    p = math.erfc(abs(z) / math.sqrt(2)) if not math.isnan(z) else float("nan")
    ok = not math.isnan(p)
    return {"diff": round(diff, 5), "ci95": round(1.96 * se, 5) if not math.isnan(se) else se,
            "p_value": round(p, 6) if ok else p, "significant": bool(p < 0.05) if ok else False}


def _mean(values) -> float:
    """Mean ignoring NaN; NaN when nothing is left."""
    x = _present(values)
    return float(x.mean()) if x.size else float("nan")


def learning(by_user: dict[int, list[dict]], metric: str, half: int) -> dict:
    """Rounds 1..half vs the rest, per user (users seen in both halves with the metric)."""
    early, late = [], []
    for recs in by_user.values():
        e = _mean([r[metric] for r in recs if r["round"] < half])
        lt = _mean([r[metric] for r in recs if r["round"] >= half])
        if not (math.isnan(e) or math.isnan(lt)):
            early.append(e)
            late.append(lt)
    return {"early": mean_ci(early), "late": mean_ci(late), "late_minus_early": mean_ci(np.subtract(late, early))}


def summarize(arms: dict[str, dict[int, list[dict]]], rounds: int, n_items: int) -> dict:
    out = {}
    half = rounds // 2
    for arm, by_user in arms.items():
        per_user = {m: [_mean([r[m] for r in recs]) for recs in by_user.values()] for m in METRICS}
        by_round = {m: [round(_mean([r[m] for recs in by_user.values() for r in recs if r["round"] == k]), 5)
                        for k in range(rounds)] for m in METRICS}
        shown = {i for recs in by_user.values() for r in recs for i in r["items"]}
        out[arm] = {
            "users": len(by_user),
            "totals": {m: mean_ci(v) for m, v in per_user.items()},
            "coverage": round(len(shown) / n_items, 5),
            "by_round": by_round,
            "learning": {"rounds": f"1-{half} vs {half + 1}-{rounds}",
                         **{m: learning(by_user, m, half) for m in ("oracle_relevance", "mood_share")},
                         # The first feed knows nothing of the session; every later one could.
                         "mood_share_first_vs_rest": learning(by_user, "mood_share", 1)},
            "_per_user": per_user,
        }
    return out


def comparisons(summary: dict, reference: str) -> dict:
    out = {}
    for arm in summary:
        if arm == reference:
            continue
        out[f"{reference} - {arm}"] = {m: compare(summary[reference]["_per_user"][m], summary[arm]["_per_user"][m])
                                       for m in ("like_rate", "watch_s", "oracle_relevance", "mood_share")}
    return out


# ---- reports -----------------------------------------------------------------------------
def write_report(report: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    arms = report["arms"]
    lines = [f"# Closed-loop simulation: {report['config']['users']} users x {report['config']['rounds']} rounds "
             f"of {report['config']['count']} videos", "",
             "| arm | users | like rate | watch s | oracle relevance | diversity | novelty | repeat | coverage | "
             "oracle late − early | mood share | mood share late − early | mood share rounds 2+ − round 1 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for arm, s in arms.items():
        t = s["totals"]

        def cell(m: str, t=t) -> str:
            return f"{t[m]['mean']:.4f} ± {t[m]['ci95']:.4f}"
        lr = s["learning"]["oracle_relevance"]["late_minus_early"]
        lm = s["learning"]["mood_share"]["late_minus_early"]
        lf = s["learning"]["mood_share_first_vs_rest"]["late_minus_early"]
        lines.append(f"| {arm} | {s['users']} | {cell('like_rate')} | {cell('watch_s')} | {cell('oracle_relevance')} | "
                     f"{t['diversity']['mean']:.3f} | {t['novelty']['mean']:.2f} | {t['repeat_rate']['mean']:.3f} | "
                     f"{s['coverage']:.4f} | {lr['mean']:+.4f} ± {lr['ci95']:.4f} | {cell('mood_share')} | "
                     f"{lm['mean']:+.4f} ± {lm['ci95']:.4f} | {lf['mean']:+.4f} ± {lf['ci95']:.4f} |")
    lines += ["", "± = 95% confidence interval over users. Differences (Welch z-test on per-user means):", "",
              "| comparison | metric | difference | 95% CI | p | significant |", "|---|---|---:|---:|---:|---|"]
    for name, by_metric in report["comparisons"].items():
        for m, c in by_metric.items():
            lines.append(f"| {name} | {m} | {c['diff']:+.4f} | ± {c['ci95']:.4f} | {c['p_value']:.4g} | "
                         f"{'yes' if c['significant'] else 'no'} |")
    lines += ["", f"Requests {report['counters'].get('requests', 0)}, events acknowledged "
              f"{report['counters'].get('events_acked', 0)} of {report['counters'].get('events_sent', 0)} sent, "
              f"events stored in Redis for the simulated users: {report['events_in_redis']}."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    for ax, m in zip(axes, ("oracle_relevance", "mood_share", "like_rate", "watch_s")):
        for arm, s in arms.items():
            ax.plot(range(1, len(s["by_round"][m]) + 1), s["by_round"][m], marker="o", ms=3, label=arm)
        ax.set_title(m)
        ax.set_xlabel("round")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=110)


def count_events_in_redis(redis_url: str, prefix: str, user_ids: list[int]) -> int:
    """Events of the simulated users found in the events stream (read back, not trusted)."""
    import redis

    from core.store.events import stored_events
    from core.store.keys import Keys
    client = redis.Redis.from_url(redis_url)
    try:
        wanted = {str(u).encode() for u in user_ids}
        return sum(1 for f in stored_events(client, Keys(prefix))
                   if f.get(b"user_id") in wanted and f.get(b"event_id", b"").startswith(b"sim-"))
    finally:
        client.close()


def simulate(address: str, world: World, users: int = 200, rounds: int = 10, count: int = 10,
             concurrency: int = 8, max_requests: int = 100_000, max_seconds: float = 600, seed: int = 7,
             api_key: str = "", user_ids: list[int] | None = None, redis: tuple[str, str] | None = None) -> dict:
    imp = world.impressions
    engaged = np.bincount(imp["item_id"] - 1, weights=(imp["watch_ms"] > 0) + imp["like"] + imp["share"],
                          minlength=world.videos["item_id"].size) + 1.0
    popularity = engaged / engaged.sum()
    ts_ms = world.config.end_ms
    sim_users = make_users(world, users, seed, user_ids)
    budget = Budget(max_requests, time.monotonic() + max_seconds)
    t = time.monotonic()
    system, counters = asyncio.run(run_system(address, world, sim_users, rounds, count, concurrency, budget,
                                              popularity, ts_ms, api_key))
    counters["requests"] = budget.sent
    arms = dict(sorted(system.items()))
    for i, kind in enumerate(BASELINES):
        arms[kind] = run_baseline(kind, world, clone(sim_users, seed + 1 + i), rounds, count, popularity, ts_ms,
                                  seed + 1 + i)
    summary = summarize(arms, rounds, world.videos["item_id"].size)
    reference = "control" if "control" in summary else next(iter(system), "control")
    report = {
        "config": {"users": len(sim_users), "rounds": rounds, "count": count, "seed": seed, "gateway": address,
                   "fatigue": FATIGUE, "boredom": BOREDOM},
        "seconds": round(time.monotonic() - t, 1),
        "counters": dict(counters),
        "events_in_redis": count_events_in_redis(*redis, [u.user_id for u in sim_users]) if redis else None,
        "arms": summary,
        "comparisons": comparisons(summary, reference),
        "arm_users": {arm: sorted(by_user) for arm, by_user in system.items()},
    }
    for s in summary.values():
        s.pop("_per_user")
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.simulate", description=__doc__.split("\n")[0])
    p.add_argument("--gateway", default="", help="address of a running gateway (default: start the stack here)")
    p.add_argument("--world", type=Path, default=Path(os.environ.get("WORLD_DIR", "data/world")))
    p.add_argument("--registry", type=Path, default=Path(os.environ.get("REGISTRY_DIR", "models")))
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--prefix", default=os.environ.get("REDIS_PREFIX", "recsys"))
    p.add_argument("--experiments", type=Path, default=None, help="experiments file for the started gateway")
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--count", type=int, default=10, help="videos per feed")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--max-requests", type=int, default=100_000)
    p.add_argument("--max-seconds", type=float, default=600)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--api-key", default=os.environ.get("GATEWAY_API_KEY", ""))
    p.add_argument("--out", type=Path, default=Path("reports/simulate.json"))
    args = p.parse_args(argv)
    for name in ("users", "rounds", "count", "concurrency", "max_requests"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.rounds < 2:
        p.error("--rounds must be >= 2 (the report compares early and late rounds)")
    if args.gateway:
        try:
            check_loopback(args.gateway)
        except ValueError as err:
            p.error(f"--gateway {err}")
    if not (args.world / "world.json").exists():
        p.error(f"--world {args.world}: no world here (run `make world`)")
    if args.experiments and not args.experiments.exists():
        p.error(f"--experiments {args.experiments}: no such file")
    world = World.load(args.world)
    kw = dict(users=args.users, rounds=args.rounds, count=args.count, concurrency=args.concurrency,
              max_requests=args.max_requests, max_seconds=args.max_seconds, seed=args.seed, api_key=args.api_key)
    if args.gateway:
        report = simulate(args.gateway, world, redis=(args.redis_url, args.prefix), **kw)
    else:
        from dev.redis_server import drop_prefix, ensure_redis
        from dev.stack import Stack, bootstrap
        # A fresh key prefix per run: every run starts from the world's logged state, so runs
        # are comparable (a run's own events would otherwise shape the next one's feeds).
        prefix = f"{args.prefix}-sim-{uuid.uuid4().hex[:8]}"
        local = ensure_redis(args.redis_url)
        try:
            bootstrap(args.world, args.registry, local.url, prefix)
            env = {"GATEWAY_EXPERIMENTS_FILE": str(args.experiments.resolve())} if args.experiments else {}
            with Stack(args.registry, local.url, prefix, Path("run/logs"), env=env) as stack:
                report = simulate(stack.address("gateway"), world, redis=(local.url, prefix), **kw)
        finally:
            drop_prefix(local.url, prefix)
            local.stop()
    write_report(report, args.out)
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
