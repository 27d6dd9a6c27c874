"""`make loop`: N simulated days of the system learning from its own traffic.

    python -m training.loop.run [--days 7] [--users 200] [--rounds 10] [--out reports/loop.json]

The stack is started on a copy of the registry (the loop's versions never touch yours) and a
fresh Redis key prefix. Each day the world's users (the same users every day, their tastes
drifting slowly with the world's clock; a new session mood each day) scroll the live gateway
as `make simulate` does, and the popularity and oracle_taste baselines run on the same users.
Each night:

    export (training/loop/exporter.py)  -> gate the canary that served today (gate.py)
    -> dataset since the live version + warm-started ranker (retrain.py) -> canary

On `--broken-night` the candidate is trained on shuffled labels instead, and served on its
own scores (no recall prior: with it, a model that learned nothing orders like the recall
order, no worse than the live ranker): the gate must roll it back the next night. Writes reports/loop.{json,md,png}.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

import numpy as np

from core.registry.reader import Registry
from core.store.keys import Keys
from training.loop.dataset import Spec
from training.loop.exporter import Exporter, read_exported
from training.loop.gate import gate
from training.loop.new_day import CLOCK_REFRESH_S, publish_uploads, set_catalog_clock
from training.loop.recall import retrain_item_cf
from training.loop.retrain import catalog_items, clock_offset, retrain
from training.simulate import Budget, clone, make_users, run_baseline, run_system, summarize
from training.world import DAY_MS, World

MODELS = ("ranker", "prerank", "two_tower", "item_cf")


def popularity_of(world: World) -> np.ndarray:
    imp = world.impressions
    engaged = np.bincount(imp["item_id"] - 1, weights=(imp["watch_ms"] > 0) + imp["like"] + imp["share"],
                          minlength=world.videos["item_id"].size) + 1.0
    return engaged / engaged.sum()


def serve_day(address: str, world: World, user_ids: list[int], day: int, rounds: int, count: int, seed: int,
              shown_before: dict[int, set[int]] | None = None, concurrency: int = 8,
              oracle_shown_before: dict[int, set[int]] | None = None) -> tuple[dict, dict]:
    """One day: the users scroll the system and the baselines; (arms summary, counters).

    `shown_before` (user -> 0-based items the system showed on earlier days, updated here) gives
    the `oracle_taste_unseen` ceiling: the truth's best among what the system may still show
    (its seen-set filter drops everything shown before), so the fall a growing seen-set causes
    is told apart from the fall of the system's own choices. `oracle_shown_before` (the same for
    the oracle's own picks, updated here) gives `oracle_taste_all_week`: a perfect recommender
    that serves the truth's best every day and never shows a video twice, the week a system
    with a seen-set filter could have at best by greedy choices."""
    popularity = popularity_of(world)
    ts_ms = world.config.end_ms + (day - 1) * DAY_MS  # the world's clock: tastes drift day by day
    users = make_users(world, len(user_ids), seed + 1000 * day, user_ids)  # a new mood per day
    budget = Budget(10**9, time.monotonic() + 3600)
    system, counters = asyncio.run(run_system(address, world, users, rounds, count, concurrency, budget,
                                              popularity, ts_ms))
    merged: dict[int, list[dict]] = {}
    for by_user in system.values():
        merged.update(by_user)
    arms = {"system": merged}
    for ranker in sorted({r.get("ranker", "") for recs in merged.values() for r in recs} - {""}):
        arms[f"system@{ranker}"] = {u: [r for r in recs if r.get("ranker") == ranker] for u, recs in merged.items()
                                    if any(r.get("ranker") == ranker for r in recs)}
    for i, kind in enumerate(("popularity", "oracle_taste")):
        arms[kind] = run_baseline(kind, world, clone(users, seed + day + i), rounds, count, popularity, ts_ms,
                                  seed + day + i)
    def oracle_after(shown: dict[int, set[int]], arm_seed: int) -> dict[int, list[dict]]:
        """oracle_taste on users who were shown `shown` (user -> items) on earlier days."""
        these = clone(users, arm_seed)
        for u in these:
            u.shown.update(shown.get(u.user_id, ()))
        return run_baseline("oracle_taste", world, these, rounds, count, popularity, ts_ms, arm_seed)

    def remember(shown: dict[int, set[int]], arm: dict[int, list[dict]]) -> None:
        for uid, recs in arm.items():
            shown.setdefault(uid, set()).update(i for r in recs for i in r["items"])

    shown_before = {} if shown_before is None else shown_before
    arms["oracle_taste_unseen"] = oracle_after(shown_before, seed + day + 1)
    remember(shown_before, merged)
    if oracle_shown_before is not None:
        arms["oracle_taste_all_week"] = oracle_after(oracle_shown_before, seed + day + 2)
        remember(oracle_shown_before, arms["oracle_taste_all_week"])
    summary = summarize(arms, rounds, world.videos["item_id"].size)
    counters["requests"] = budget.sent
    return summary, dict(counters)


def legacy_engagement(world: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user ids, item ids, world ms) of the engaged rows of the world's legacy log: the history
    window the nightly item-CF keeps (the log the day-1 versions were built from)."""
    from core.feedback import engaged_rows
    imp = world.impressions
    dur = world.videos["duration_s"][imp["item_id"] - 1]
    eng = engaged_rows(imp["watch_ms"], dur, imp["like"], imp["share"], imp["follow"])
    return imp["user_id"][eng], imp["item_id"][eng], imp["ts_ms"][eng]


def day_record(day: int, summary: dict, live: dict[str, str], canary: dict[str, str]) -> dict:
    arms = {}
    for arm, s in summary.items():
        arms[arm] = {m: s["totals"][m] for m in ("oracle_relevance", "like_rate", "watch_s", "mood_share")}
        arms[arm]["mood_share_rounds_2plus_minus_round_1"] = s["learning"]["mood_share_first_vs_rest"][
            "late_minus_early"]
        arms[arm]["users"] = s["users"]
    return {"day": day, "arms": arms, "live_versions": live, "canary_versions": canary}


def versions(registry: Registry) -> tuple[dict[str, str], dict[str, str]]:
    live, canary = {}, {}
    for m in MODELS:
        doc = registry.aliases(m)
        live[m] = doc.get("live", "")
        if doc.get("canary"):
            canary[m] = f"{doc['canary']} ({doc.get('canary_percent', 0)}%)"
    return live, canary


def loop(world_dir: Path, registry_src: Path, work: Path, redis_url: str, days: int = 7, users: int = 200,
         rounds: int = 10, count: int = 10, canary_percent: float = 50.0, broken_night: int = 3, seed: int = 7,
         epochs: int = 2, retrain_nightly: bool = True, uploads_per_day: int | None = None,
         retrain_recall: bool = True, say=print) -> dict:
    import redis

    from dev.redis_server import drop_prefix, ensure_redis
    from dev.stack import Stack, bootstrap
    world = World.load(world_dir)
    registry_dir, logs = work / "models", work / "logs"
    if registry_dir.exists():
        shutil.rmtree(registry_dir)
    shutil.copytree(registry_src, registry_dir, ignore=shutil.ignore_patterns(".staging-*", "decisions.jsonl"))
    shutil.rmtree(logs, ignore_errors=True)
    registry = Registry(registry_dir)
    prefix = f"loop-{uuid.uuid4().hex[:8]}"
    local = ensure_redis(redis_url)
    rng = np.random.default_rng(seed)
    history = legacy_engagement(world) if retrain_recall else None
    imp = world.impressions
    watch_history = (imp["user_id"], imp["item_id"], imp["watch_ms"], imp["ts_ms"])  # what day 1's watch model learned
    uploads = round(world.upload_rate_per_day()) if uploads_per_day is None else uploads_per_day
    user_ids = sorted(rng.choice(np.arange(1, world.config.n_users + 1), min(users, world.config.n_users),
                                 replace=False).tolist())
    report = {"config": {"days": days, "users": len(user_ids), "rounds": rounds, "count": count,
                         "canary_percent": canary_percent, "broken_night": broken_night, "seed": seed,
                         "retrain": retrain_nightly, "retrain_recall": retrain_recall and retrain_nightly,
                         "uploads_per_day": uploads},
              "days": [], "decisions": [], "candidates": [], "recall_versions": [], "nights_s": []}
    acked = 0
    t0 = time.monotonic()
    try:
        bootstrap(world_dir, registry_dir, local.url, prefix, progress=False, say=lambda *_: None)
        offset = clock_offset(local.url, prefix)
        client, keys = redis.Redis.from_url(local.url), Keys(prefix)
        exporter = Exporter(client, keys, logs)
        shown_before: dict[int, set[int]] = {}
        oracle_shown_before: dict[int, set[int]] = {}
        clock_changes: list[tuple[int, int]] = []  # (wall ms, offset): the catalog clock, day by day
        with Stack(registry_dir, local.url, prefix, work / "run-logs") as stack:
            for day in range(1, days + 1):
                if clock_changes:  # every service must read the new clock before the day starts
                    time.sleep(max(0.0, CLOCK_REFRESH_S + 1 - (time.time() * 1000 - clock_changes[-1][0]) / 1000))
                now_offset = clock_changes[-1][1] if clock_changes else offset
                new_ids = publish_uploads(stack.address("gateway"), world, uploads,
                                          int(time.time() * 1000) - now_offset, rng)
                day_start = int(time.time() * 1000)
                live, canary = versions(registry)
                summary, counters = serve_day(stack.address("gateway"), world, user_ids, day, rounds, count, seed,
                                              shown_before, oracle_shown_before=oracle_shown_before)
                acked += counters.get("events_acked", 0)
                record = day_record(day, summary, live, canary) | {"counters": counters, "uploads": len(new_ids)}
                report["days"].append(record)
                s = record["arms"]["system"]
                say(f"day {day}: oracle relevance {s['oracle_relevance']['mean']:.4f} "
                    f"± {s['oracle_relevance']['ci95']:.4f}, like rate {s['like_rate']['mean']:.4f}; "
                    f"live {live['ranker']}, canary {canary.get('ranker', '-')} ({time.monotonic() - t0:.0f} s)")
                night = time.monotonic()
                if day < days:  # tomorrow, in the world's time
                    wall = int(time.time() * 1000)
                    clock_changes.append((wall, set_catalog_clock(client, keys, world.config.end_ms + day * DAY_MS,
                                                                  wall)))
                exporter.drain()
                if canary.get("ranker"):  # judge the canary on today's traffic
                    d = gate(registry_dir, str(logs), since_ms=day_start, min_users=10)
                    report["decisions"].append({"day": day + 1, "model": d.model, "version": d.version,
                                                "action": d.action, "reason": d.reason, "arms": d.arms})
                    say(f"night {day}: gate {d.action} ranker/{d.version}: {d.reason}")
                if day < days and retrain_nightly:
                    broken = day == broken_night
                    c = retrain(registry_dir, str(logs), canary_percent, clock_offset_ms=offset, epochs=epochs,
                                seed=seed + day, warm_start=not broken, shuffle_labels=broken, work=work,
                                clock_changes=tuple(clock_changes),
                                online_items=catalog_items(local.url, prefix), watch_history=watch_history)
                    if retrain_recall:
                        version = retrain_item_cf(registry_dir, str(logs), history, catalog_items(local.url, prefix),
                                                  Spec(str(logs), "", clock_offset_ms=offset,
                                                       clock_changes=tuple(clock_changes)))
                        report["recall_versions"].append({"night": day, "model": "item_cf", "version": version})
                        say(f"night {day}: item_cf/{version} rebuilt from the history and the logs, live")
                    if c is not None:
                        report["candidates"].append({"night": day, "version": c.version, "parent": c.parent,
                                                     "rows": c.rows, "broken": broken, "metrics": c.metrics,
                                                     "warm_start": {k: v for k, v in c.warm_start.items()
                                                                    if k != "fresh"}})
                        kind = "broken: shuffled labels" if broken else "warm-started"
                        say(f"night {day}: candidate ranker/{c.version} ({kind}, {c.rows} rows) "
                            f"on canary at {canary_percent}%")
                    time.sleep(3)  # the rank service follows the alias file (1 s poll)
                report["nights_s"].append(round(time.monotonic() - night, 1))
    finally:
        drop_prefix(local.url, prefix)
        local.stop()
    events, dropped = read_exported(logs, "events", columns=["stream_id", "event_id"])
    report["events"] = {"acked": int(acked), "exported": int(events.num_rows), "duplicates_dropped": int(dropped),
                        "unique_event_ids": len(set(events.column("event_id").to_pylist()))}
    report["seconds"] = round(time.monotonic() - t0, 1)
    first, last = (report["days"][i]["arms"]["system"]["oracle_relevance"] for i in (0, -1))
    week = [report["days"][i]["arms"].get("oracle_taste_all_week", {}).get("oracle_relevance") for i in (0, -1)]
    report["targets"] = {
        "oracle_last_over_first": round(last["mean"] / first["mean"], 4) if first["mean"] else None,
        # The same ratio for a perfect greedy recommender under the same seen-set rule: what the
        # week's growing seen sets alone do to a feed that is right every day.
        "oracle_all_week_last_over_first": (round(week[1]["mean"] / week[0]["mean"], 4)
                                            if all(week) and week[0]["mean"] else None),
        "oracle_1.3x_non_overlapping": bool(last["mean"] >= 1.3 * first["mean"]
                                             and last["mean"] - last["ci95"] > first["mean"] + first["ci95"]),
        "promoted": sum(d["action"] == "promoted" for d in report["decisions"]),
        "broken_rolled_back": any(d["action"] == "rolled_back" and any(
            c["broken"] and c["version"] == d["version"] for c in report["candidates"]) for d in report["decisions"]),
        "exported_equals_acked": report["events"]["exported"] == report["events"]["acked"],
    }
    return report


def write_report(report: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    c = report["config"]
    lines = [f"# The learning loop: {c['days']} days x {c['users']} users x {c['rounds']} rounds of "
             f"{c['count']} videos", "",
             "| day | live ranker | canary | item_cf | uploads | system oracle relevance | popularity | oracle_taste | "
             "oracle_taste_unseen | oracle_taste_all_week | system like rate | mood share rounds 2+ − round 1 |",
             "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for d in report["days"]:
        a = d["arms"]

        def cell(arm: str, m: str = "oracle_relevance", a=a) -> str:
            return f"{a[arm][m]['mean']:.4f} ± {a[arm][m]['ci95']:.4f}"
        ms = a["system"]["mood_share_rounds_2plus_minus_round_1"]
        unseen = cell("oracle_taste_unseen") if "oracle_taste_unseen" in a else ""
        week = cell("oracle_taste_all_week") if "oracle_taste_all_week" in a else ""
        lines.append(f"| {d['day']} | {d['live_versions']['ranker']} | {d['canary_versions'].get('ranker', '')} | "
                     f"{d['live_versions'].get('item_cf', '')} | {d.get('uploads', '')} | "
                     f"{cell('system')} | {cell('popularity')} | {cell('oracle_taste')} | {unseen} | {week} | "
                     f"{cell('system', 'like_rate')} | {ms['mean']:+.4f} ± {ms['ci95']:.4f} |")
    lines += ["", "## Gate decisions", "", "| day | version | action | reason |", "|---:|---|---|---|"]
    lines += [f"| {d['day']} | {d['version']} | {d['action']} | {d['reason']} |" for d in report["decisions"]]
    lines += ["", "## Candidates", "", "| night | version | parent | rows | broken | holdout AUC like (live) |",
              "|---:|---|---|---:|---|---|"]
    for cand in report["candidates"]:
        m = cand["metrics"]
        lines.append(f"| {cand['night']} | {cand['version']} | {cand['parent']} | {cand['rows']} | "
                     f"{cand['broken']} | {m.get('holdout_auc_like', '')} ({m.get('holdout_live_auc_like', '')}) |")
    e, t = report["events"], report["targets"]
    lines += ["", f"Events: acknowledged {e['acked']}, exported {e['exported']}, duplicates dropped "
              f"{e['duplicates_dropped']}. Targets: {json.dumps(t)}. Wall time {report['seconds']} s.", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    days = [d["day"] for d in report["days"]]
    for ax, m in zip(axes, ("oracle_relevance", "like_rate")):
        for arm in ("system", "popularity", "oracle_taste", "oracle_taste_unseen", "oracle_taste_all_week"):
            if any(arm not in d["arms"] for d in report["days"]):
                continue
            mean = [d["arms"][arm][m]["mean"] for d in report["days"]]
            ci = [d["arms"][arm][m]["ci95"] for d in report["days"]]
            ax.errorbar(days, mean, yerr=ci, marker="o", ms=3, capsize=2, label=arm)
        for d in report["decisions"]:
            ax.axvline(d["day"], color="green" if d["action"] == "promoted" else "red", alpha=0.25)
        ax.set_title(m)
        ax.set_xlabel("day")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.loop.run", description=__doc__.split("\n")[0])
    p.add_argument("--world", type=Path, default=Path(os.environ.get("WORLD_DIR", "data/world")))
    p.add_argument("--registry", type=Path, default=Path(os.environ.get("REGISTRY_DIR", "models")))
    p.add_argument("--work", type=Path, default=Path("run/loop"))
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--canary-percent", type=float, default=50.0)
    p.add_argument("--broken-night", type=int, default=3, help="the night a shuffled-label candidate is published")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-retrain", action="store_true",
                   help="serve day 1's models all week (the no-learning baseline)")
    p.add_argument("--no-recall-retrain", action="store_true", help="retrain the ranker only, not item-CF")
    p.add_argument("--uploads-per-day", type=int, default=None,
                   help="new videos published through the catalog API each day (default: the world's own rate)")
    p.add_argument("--out", type=Path, default=Path("reports/loop.json"))
    args = p.parse_args(argv)
    if args.days < 2:
        p.error("--days must be >= 2 (a candidate is trained at night and judged the next day)")
    for name in ("users", "rounds", "count", "epochs"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if args.uploads_per_day is not None and args.uploads_per_day < 0:
        p.error("--uploads-per-day must be >= 0")
    if not 0 < args.canary_percent <= 100:
        p.error("--canary-percent must be in (0, 100]")
    if not (args.registry / "ranker" / "aliases.json").exists():
        p.error(f"--registry {args.registry}: no live ranker (run `make artifacts`)")
    report = loop(args.world, args.registry, args.work, args.redis_url, args.days, args.users, args.rounds,
                  args.count, args.canary_percent, args.broken_night, args.seed, args.epochs,
                  retrain_nightly=not args.no_retrain, uploads_per_day=args.uploads_per_day,
                  retrain_recall=not args.no_recall_retrain)
    write_report(report, args.out)
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
