"""How much of the truth's ceiling the funnel reaches as the log it learns from grows.

    python -m training.learning_curve [--sessions 8 16 32] [--users 1000] [--out reports/learning-curve.json]

The synthetic world's users have 16-dimensional tastes and every video its own trait, mostly
its own (a category centroid plus noise of 2.4 times its norm), so what a model can know of a
video is bounded by how often the log shows it. This generates the default world with more
sessions per user (the same users, videos and seed; more impressions of every video and of
every user), runs the whole offline evaluation (`training.evaluate`, fusion fitted on a
validation split) on each, and reports, for the same kind of test users:

* the truth's ceiling share: the mean true P(like) of the final feed's top 10 over the best 10
  of the unseen catalog (`stages.oracle`), and the same for the rank order and the merged recall
  and the hot channel (popularity: what needs no taste at all);
* the final feed's NDCG@10 and the tuned implicit ALS's on the held-out log.

The simulator's and the learning loop's targets (#15: 0.5x `oracle_taste`; #17: day 7 >= 1.3x
day 1) ask the same models for a much larger share of that ceiling; the curve says how much data
that share costs.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from training.evaluate import evaluate
from training.world import WorldConfig, generate


def point(sessions: float, users: int, epochs: int, seed: int) -> dict:
    started = time.monotonic()
    world = generate(dataclasses.replace(WorldConfig(), sessions_per_user=sessions), progress=False)
    report, _ = evaluate(world, "synthetic", epochs, seed, users)
    st, o = report["stages"], report["stages"]["oracle"]
    ceiling = o["catalog"]["best10"]["mean"]
    n_imp = int(world.impressions["user_id"].size)

    def share(name: str) -> float:
        return round(o[name]["top10"]["mean"] / ceiling, 4) if name in o else float("nan")

    return {"sessions_per_user": sessions, "impressions": n_imp,
            "impressions_per_video": round(n_imp / world.config.n_videos, 1),
            "impressions_per_user": round(n_imp / world.config.n_users, 1),
            "ceiling_best10": ceiling,
            "ceiling_share": {"final": share("final"), "rank": share("rank"),
                              "merged_recall": share("merged_recall"), "hot": share("channel:hot"),
                              "two_tower": share("channel:two_tower")},
            "rank_best10_share": round(o["rank"]["best10"]["mean"] / ceiling, 4),
            "ndcg@10": {"final": st["final"]["ndcg@10"], "merged_recall": st["merged_recall"]["ndcg@10"],
                        "implicit_als": report["retrieval"]["implicit_als"]["ndcg@10"]},
            "seconds": round(time.monotonic() - started, 1)}


def write(doc: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    sessions = " ".join(str(p["sessions_per_user"]) for p in doc["points"])
    lines = ["# Learning curve: the share of the truth's ceiling against the size of the log", "",
             f"`python -m training.learning_curve --sessions {sessions}`"
             f" (default world, seed {doc['seed']}, {doc['users']} test users, {doc['epochs']} epochs).", "",
             "Share = mean true P(like) of the list's top 10 / the best 10 of the unseen catalog.", "",
             "| sessions/user | impressions | per video | per user | final | rank | merged | hot | two-tower | "
             "rank's best 10 | NDCG final | NDCG ALS |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in doc["points"]:
        s = p["ceiling_share"]
        lines.append(f"| {p['sessions_per_user']} | {p['impressions']:,} | {p['impressions_per_video']} | "
                     f"{p['impressions_per_user']} | {s['final']:.3f} | {s['rank']:.3f} | {s['merged_recall']:.3f} | "
                     f"{s['hot']:.3f} | {s['two_tower']:.3f} | {p['rank_best10_share']:.3f} | "
                     f"{p['ndcg@10']['final']:.4f} | {p['ndcg@10']['implicit_als']:.4f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    x = [p["impressions_per_video"] for p in doc["points"]]
    for name in ("final", "rank", "merged_recall", "hot"):
        ax.plot(x, [p["ceiling_share"][name] for p in doc["points"]], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("logged impressions per video")
    ax.set_ylabel("top-10 true P(like) / ceiling")
    ax.legend(fontsize=8)
    ax.set_title("share of the truth's ceiling vs log size")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.learning_curve", description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=float, nargs="+", default=[8.0, 16.0, 32.0],
                   help="sessions per user of each world (the default world has 8)")
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=Path("reports/learning-curve.json"))
    args = p.parse_args(argv)
    if any(s <= 0 for s in args.sessions):
        p.error("--sessions must be > 0")
    if args.users < 1 or args.epochs < 1:
        p.error("--users and --epochs must be >= 1")
    doc = {"seed": args.seed, "users": args.users, "epochs": args.epochs, "points": []}
    for s in args.sessions:
        doc["points"].append(point(s, args.users, args.epochs, args.seed))
        print(json.dumps(doc["points"][-1]), file=sys.stderr)
        write(doc, args.out)  # after every point: a long run keeps what it measured
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
