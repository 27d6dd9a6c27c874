"""The canary gate: read the logged arms, promote or roll back, and say why.

    python -m training.loop.gate --logs data/logs --registry models [--since-ms ..] [--apply]

An arm is the ranker version an impression names (the rank service routes a stable share of
users to the canary, so each user is in one arm). Per impression, from the events that
followed it within the window: liked, watch time, negative feedback (a skip, dislike or block,
or a view under QUICK_SKIP_MS). Each metric is averaged per user first, and the arms are
compared by Welch's interval on those per-user means (a user's impressions are not independent).

Decision, in order:
  hold          fewer than `min_users` users in either arm: wait for more traffic
  rolled_back   a guardrail breaks: degraded-response share or gateway latency p99 worse
  rolled_back   like rate or watch time per impression worse (95% CI below 0), or negative
                feedback higher (95% CI above 0)
  promoted      like rate better (95% CI above 0)
  promoted      no metric worse and the like rate within `tolerance` (relative) of live
  rolled_back   otherwise: not shown to be no worse
The decision is applied to the alias file every replica follows (promote: canary becomes
live; roll back: canary cleared) and appended to <registry>/<model>/decisions.jsonl.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.feedback import EventKind
from core.registry.reader import Registry
from training.loop.exporter import read_exported

MODEL = "ranker"
WINDOW_MS = 30 * 60_000
QUICK_SKIP_MS = 3000
NEGATIVE = {int(EventKind.SKIP), int(EventKind.DISLIKE), int(EventKind.BLOCK)}
METRICS = ("like_rate", "watch_s", "negative_rate", "degraded_rate")


@dataclass
class Decision:
    model: str
    version: str
    live: str
    action: str                # promoted | rolled_back | hold
    reason: str
    arms: dict = field(default_factory=dict)
    diffs: dict = field(default_factory=dict)
    decided_ms: int = 0
    applied: bool = False


def outcomes(imps: pd.DataFrame, events: pd.DataFrame, window_ms: int = WINDOW_MS) -> pd.DataFrame:
    """Impressions with `like`, `watch_s`, `negative` from the events on their item within the window."""
    imps = imps.reset_index(drop=True).assign(_row=lambda d: np.arange(len(d)))
    ev = events[["user_id", "item_id", "ts_ms", "type", "watch_ms"]].rename(columns={"ts_ms": "ev_ts"})
    j = imps[["_row", "user_id", "item_id", "ts_ms"]].merge(ev, on=["user_id", "item_id"])
    j = j[(j["ev_ts"] >= j["ts_ms"]) & (j["ev_ts"] - j["ts_ms"] <= window_ms)]
    view = j["type"] == int(EventKind.VIEW)
    per = pd.DataFrame({
        "_row": j["_row"], "like": j["type"] == int(EventKind.LIKE),
        "watch_s": np.where(view, j["watch_ms"] / 1000.0, 0.0),
        "negative": j["type"].isin(NEGATIVE) | (view & (j["watch_ms"] < QUICK_SKIP_MS)),
    }).groupby("_row").agg({"like": "max", "watch_s": "max", "negative": "max"})
    out = imps.join(per, on="_row").drop(columns="_row")
    out[["like", "negative"]] = out[["like", "negative"]].fillna(False).astype(float)
    out["watch_s"] = out["watch_s"].fillna(0.0)
    out["degraded"] = (out["degraded"].fillna("") != "").astype(float)
    return out


def mean_ci(x: np.ndarray) -> dict:
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return {"mean": float("nan"), "ci95": float("nan"), "n": 0}
    se = x.std(ddof=1) / math.sqrt(x.size) if x.size > 1 else float("nan")
    return {"mean": round(float(x.mean()), 5), "ci95": round(1.96 * se, 5), "n": int(x.size)}


def diff_ci(a: np.ndarray, b: np.ndarray) -> dict:
    """mean(a) - mean(b) with its 95% interval (Welch, normal approximation)."""
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size) if a.size > 1 and b.size > 1 else float("nan")
    d = float(a.mean() - b.mean()) if a.size and b.size else float("nan")
    return {"diff": round(d, 5), "lo": round(d - 1.96 * se, 5), "hi": round(d + 1.96 * se, 5)}


def per_user(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.groupby("user_id").agg(like_rate=("like", "mean"), watch_s=("watch_s", "mean"),
                                       negative_rate=("negative", "mean"), degraded_rate=("degraded", "mean"))


def arm_summary(rows: pd.DataFrame) -> dict:
    users = per_user(rows)
    out = {m: mean_ci(users[m].to_numpy()) for m in METRICS}
    lat = rows.drop_duplicates("request_id")["latency_ms"].to_numpy() if "latency_ms" in rows else np.zeros(0)
    out |= {"users": int(len(users)), "impressions": int(len(rows)),
            "latency_p99_ms": round(float(np.percentile(lat, 99)), 3) if lat.size else float("nan")}
    return out


def decide(live: pd.DataFrame, canary: pd.DataFrame, min_users: int = 30, tolerance: float = 0.03,
           latency_slack: float = 1.25) -> tuple[str, str, dict, dict]:
    """(action, reason, arms, diffs) from the two arms' impression outcomes."""
    arms = {"live": arm_summary(live), "canary": arm_summary(canary)}
    if min(arms["live"]["users"], arms["canary"]["users"]) < min_users:
        return "hold", (f"too few users: live {arms['live']['users']}, canary {arms['canary']['users']} "
                        f"(need {min_users} each)"), arms, {}
    lu, cu = per_user(live), per_user(canary)
    diffs = {m: diff_ci(cu[m].to_numpy(), lu[m].to_numpy()) for m in METRICS}
    like, watch, neg, deg = (diffs[m] for m in METRICS)

    def show(m: str) -> str:
        d = diffs[m]
        return f"{m} {d['diff']:+.4f} [{d['lo']:+.4f}, {d['hi']:+.4f}]"
    if deg["lo"] > 0.01:
        return "rolled_back", f"guardrail: degraded responses up ({show('degraded_rate')})", arms, diffs
    lp99, cp99 = arms["live"]["latency_p99_ms"], arms["canary"]["latency_p99_ms"]
    if cp99 > latency_slack * lp99 + 5.0:
        return "rolled_back", f"guardrail: latency p99 {cp99:.1f} ms vs live {lp99:.1f} ms", arms, diffs
    worse = [show(m) for m, d in (("like_rate", like), ("watch_s", watch)) if d["hi"] < 0]
    worse += [show("negative_rate")] if neg["lo"] > 0 else []
    if worse:
        return "rolled_back", "worse than live: " + "; ".join(worse), arms, diffs
    if like["lo"] > 0:
        return "promoted", f"better than live: {show('like_rate')}; {show('watch_s')}", arms, diffs
    base = arms["live"]["like_rate"]["mean"]
    if like["diff"] >= -tolerance * base and watch["diff"] >= -tolerance * arms["live"]["watch_s"]["mean"]:
        return "promoted", (f"no worse than live (within {tolerance:.0%}): {show('like_rate')}; "
                            f"{show('watch_s')}; {show('negative_rate')}"), arms, diffs
    return "rolled_back", f"not shown to be no worse: {show('like_rate')}; {show('watch_s')}", arms, diffs


def gate(registry_root: Path, logs: str, since_ms: int = 0, until_ms: int | None = None, model: str = MODEL,
         min_users: int = 30, tolerance: float = 0.03, apply: bool = True) -> Decision:
    registry = Registry(registry_root)
    aliases = registry.aliases(model)
    live, canary = aliases.get("live", ""), aliases.get("canary", "")
    now = int(time.time() * 1000)
    if not canary:
        return Decision(model, "", live, "hold", "no canary to judge", decided_ms=now)
    until = until_ms or now
    if not since_ms:  # both arms over the same days: from when the canary was published
        since_ms = int(registry.open(model, canary, verify=False).manifest.get("created_ms", 0))
    imps, _ = read_exported(logs, "impressions")
    events, _ = read_exported(logs, "events")
    imps = imps.to_pandas()
    imps = imps[(imps["ts_ms"] >= since_ms) & (imps["ts_ms"] < until)]
    rows = outcomes(imps, events.to_pandas())
    action, reason, arms, diffs = decide(rows[rows["ranker_version"] == live], rows[rows["ranker_version"] == canary],
                                         min_users, tolerance)
    decision = Decision(model, canary, live, action, reason, arms, diffs, now)
    if apply and action != "hold":
        if action == "promoted":
            registry.set_live(model, canary)
        else:
            registry.set_canary(model, "", 0)
        decision.applied = True
        with open(Path(registry_root) / model / "decisions.jsonl", "a") as f:
            f.write(json.dumps(asdict(decision)) + "\n")
    return decision


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.loop.gate", description=__doc__.split("\n")[0])
    p.add_argument("--logs", default=os.environ.get("EXPORT_URI", "data/logs"))
    p.add_argument("--registry", type=Path, default=Path(os.environ.get("REGISTRY_DIR", "models")))
    p.add_argument("--model", default=MODEL)
    p.add_argument("--since-ms", type=int, default=0, help="default: when the canary version was published")
    p.add_argument("--min-users", type=int, default=30)
    p.add_argument("--apply", action="store_true", help="promote / roll back (default: report only)")
    args = p.parse_args(argv)
    d = gate(args.registry, args.logs, args.since_ms, model=args.model, min_users=args.min_users, apply=args.apply)
    print(json.dumps(asdict(d), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
