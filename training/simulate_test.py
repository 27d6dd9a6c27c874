"""The simulator's offline parts: the baselines' feeds and the statistics (no stack needed)."""
import math

import numpy as np

from training import simulate as sim
from training.world import WorldConfig, generate

WORLD = generate(WorldConfig(seed=5, n_users=80, n_authors=20, n_videos=600, days=4), progress=False)


def run(kind: str, users: list[sim.SimUser], rounds: int = 4) -> dict[int, list[dict]]:
    popularity = np.full(WORLD.videos["item_id"].size, 1.0 / WORLD.videos["item_id"].size)
    return sim.run_baseline(kind, WORLD, sim.clone(users, 1), rounds, 5, popularity, WORLD.config.end_ms, seed=1)


def test_the_truths_ceiling_is_above_the_floors_and_never_repeats():
    users = sim.make_users(WORLD, 40, seed=2)
    summary = sim.summarize({k: run(k, users) for k in sim.BASELINES}, 4, WORLD.videos["item_id"].size)
    relevance = {k: s["totals"]["oracle_relevance"]["mean"] for k, s in summary.items()}
    assert relevance["oracle"] > relevance["popularity"] > 0
    assert relevance["oracle"] > relevance["random"]
    # the mood is part of the truth the oracle ranks by: knowing it can only help
    assert relevance["oracle"] >= relevance["oracle_taste"]
    # knowing a video only by its category loses to knowing its own trait, beats popularity
    assert relevance["oracle_taste"] > relevance["oracle_category_taste"] > relevance["popularity"]
    assert summary["oracle"]["totals"]["repeat_rate"]["mean"] == 0.0


def test_mood_share_counts_only_users_with_a_mood():
    users = sim.make_users(WORLD, 40, seed=2)
    moods = {u.user_id: u.mood for u in users}
    assert {m >= 0 for m in moods.values()} == {True, False}  # both kinds in this sample
    recs = run("oracle", users)
    for uid, rounds in recs.items():
        shares = [r["mood_share"] for r in rounds]
        if moods[uid] < 0:
            assert all(math.isnan(s) for s in shares)
        else:
            assert all(0.0 <= s <= 1.0 for s in shares)
    s = sim.summarize({"oracle": recs}, 4, WORLD.videos["item_id"].size)["oracle"]
    with_mood = sum(m >= 0 for m in moods.values())
    assert s["totals"]["mood_share"]["n"] == with_mood  # NaN users left out, not counted as 0
    assert s["learning"]["mood_share_first_vs_rest"]["late_minus_early"]["n"] == with_mood
