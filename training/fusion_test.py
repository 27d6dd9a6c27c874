"""Head-fusion fitting: coordinate ascent finds a better weighting when one exists and keeps
the prior on ties; the decayed popularity feature is causal."""
from __future__ import annotations

import numpy as np

from training import fusion
from training.data import Popularity


def test_coordinate_ascent_finds_the_head_that_matters_and_keeps_ties():
    heads = ("engaged", "good", "noise")
    target = np.array([1.0, 2.0, 0.0])

    def objective(w):  # best when the weights point like the target
        return float(w @ target / (np.linalg.norm(w) * np.linalg.norm(target) + 1e-12))

    w, trace = fusion.coordinate_ascent(objective, heads, {"engaged": 1.0, "good": 0.0, "noise": 0.5})
    assert w["engaged"] == 1.0  # the scale stays fixed
    assert w["good"] == 2.0 and w["noise"] == 0.0
    assert trace[-1]["ndcg@10"] >= trace[0]["ndcg@10"]
    same, trace = fusion.coordinate_ascent(lambda w: 0.5, heads, {"engaged": 1.0, "good": 0.25})
    assert same == {"engaged": 1.0, "good": 0.25, "noise": 0.0} and len(trace) == 1


def test_joint_heads_leave_the_corner_that_one_head_at_a_time_walks_into():
    """From (0, 0) the best single move is p = 2, then q = 2, and every single move from
    there loses; the best pair, (1, 1), is two moves away."""
    table = {(0, 0): 0.30, (2, 0): 0.60, (2, 2): 0.65, (1, 1): 0.90}
    heads = ("engaged", "p", "q")
    objective = lambda w: table.get((int(w[1]), int(w[2])), 0.5 if w[1] + w[2] < 4 else 0.1)  # noqa: E731
    grids = {"p": (0.0, 1.0, 2.0), "q": (0.0, 1.0, 2.0)}
    alone, _ = fusion.coordinate_ascent(objective, heads, {"engaged": 1.0}, values_of=grids)
    assert (alone["p"], alone["q"]) == (2.0, 2.0)
    together, trace = fusion.coordinate_ascent(objective, heads, {"engaged": 1.0}, values_of=grids, joint=("p", "q"))
    assert (together["p"], together["q"]) == (1.0, 1.0) and trace[-1]["ndcg@10"] == 0.9


def test_popularity_counts_only_the_past_with_its_half_life():
    hour = 3_600_000
    pop = Popularity(np.array([0, 0, 1, 0]), np.array([0, 24 * hour, 10, 48 * hour]), 3, half_life_h=24.0)
    got = pop(np.array([0, 0, 0, 1, 2, -1]), np.array([1, 24 * hour, 24 * hour + 1, 11, 5, 5]))
    np.testing.assert_allclose(got, [1.0, 0.5, 1.5, 1.0, 0.0, 0.0], rtol=1e-6)


def test_the_recall_prior_moves_the_order_from_the_heads_to_the_recall_list():
    rng = np.random.default_rng(0)
    n = fusion.PRERANK_KEEP + 100
    case = fusion.Case(item_ids=np.arange(1, n + 1), pre=rng.random(n).astype(np.float32),
                       heads=rng.random((n, 2)).astype(np.float32), truth=np.array([1]),
                       watch=rng.standard_normal(n).astype(np.float32))
    w = np.array([1.0, 0.0], np.float32)
    ids, fused = fusion.rank_order(case, w, prior_weight=0.0)
    assert ids.size == fusion.RANK_KEEP and np.all(np.diff(fused) <= 0)
    kept = np.sort(np.argsort(-case.pre)[: fusion.PRERANK_KEEP])
    by_head = case.item_ids[kept][np.argsort(-case.heads[kept, 0], kind="stable")]
    assert ids.tolist() == by_head[: fusion.RANK_KEEP].tolist()
    ids, _ = fusion.rank_order(case, w, prior_weight=1e4)
    assert ids.tolist() == list(range(1, fusion.RANK_KEEP + 1))
    # the watch score joins both the pre-rank's cut and the ranker's fused score
    ids, _ = fusion.rank_order(case, w, prior_weight=0.0, watch_weight=1e4)
    by_watch = case.item_ids[np.argsort(-case.watch, kind="stable")]
    assert ids.tolist() == by_watch[: fusion.RANK_KEEP].tolist()


def test_per_user_objectives_need_a_significant_gain():
    rng = np.random.default_rng(3)  # a draw where the noise's mean happens to be positive
    base = rng.random(400)
    noise = rng.normal(0, 1, 400)

    def objective(w):  # "good" lifts every user a little; "noise" moves each a lot, either way
        return base + 0.03 * w[1] + 0.1 * w[2] * noise

    w, _ = fusion.coordinate_ascent(objective, ("engaged", "good", "noise"), {"engaged": 1.0},
                                    values=(0.0, 1.0))
    assert w["good"] == 1.0
    assert 0.1 * noise.mean() > 0.01 * base.mean()  # noise's mean gain passes MIN_GAIN alone...
    assert w["noise"] == 0.0  # ...but not the paired test (standard error 0.1 / sqrt(400))


def test_the_rank_stage_reorders_the_recall_order_only_where_it_earns_it():
    rng = np.random.default_rng(5)
    base = rng.random(400)
    top = max(fusion.PRIOR_VALUES)
    fitted = {"engaged": 1.0, fusion.RECALL_PRIOR: 0.5}

    def ranker_helps(w):  # the recall order (the largest prior) loses 0.05 for every user
        return base - 0.05 * (w[fusion.RECALL_PRIOR] == top)

    w, evidence = fusion.earn_its_place(ranker_helps, fitted)
    assert w == fitted and evidence["earned"]

    def ranker_loses(w):  # the heads' order is a little worse, user by user
        return base - 0.01 * (w[fusion.RECALL_PRIOR] != top)

    w, evidence = fusion.earn_its_place(ranker_loses, fitted)
    assert w == {"engaged": 1.0, fusion.RECALL_PRIOR: top} and not evidence["earned"]
    assert evidence["recall_order_ndcg@10"] > evidence["fitted_ndcg@10"]

    def tie(w):  # the recall order no better than the fit's choice: the choice stands
        return base

    assert fusion.earn_its_place(tie, fitted)[0][fusion.RECALL_PRIOR] == 0.5


def test_the_recall_order_needs_one_standard_error_to_displace_the_fit():
    rng = np.random.default_rng(6)
    n, top = 400, max(fusion.PRIOR_VALUES)
    base = rng.random(n)
    fitted = {"engaged": 1.0, fusion.RECALL_PRIOR: 0.5}
    # the fitted weights lose 0.02 per user on average, at z 1.5 (displaced) and z 0.5 (noise)
    for sd, z_wanted, earned in ((0.267, 1.5, False), (0.8, 0.5, True)):
        loss = rng.normal(0, 1, n)
        loss = 0.02 + sd * (loss - loss.mean()) / loss.std(ddof=1)
        assert abs(0.02 / (sd / np.sqrt(n)) - z_wanted) < 0.01

        def objective(w, loss=loss):
            return base - loss * (w[fusion.RECALL_PRIOR] != top)

        w, evidence = fusion.earn_its_place(objective, fitted)
        assert evidence["earned"] is earned
        assert w[fusion.RECALL_PRIOR] == (0.5 if earned else top)


def test_the_watch_weight_needs_no_significance_in_the_fit_but_must_hold_on_held_out_users():
    rng = np.random.default_rng(5)
    base = rng.random(300)
    gain = 0.02 + rng.normal(0, 0.3, 300)  # +4% of the mean, at z about 1.2

    def fit_objective(w):
        return base + gain * (w[-1] == 0.1)

    heads = ("engaged", fusion.RECALL_PRIOR, fusion.WATCH)
    start = {"engaged": 1.0, fusion.RECALL_PRIOR: 0.5, fusion.WATCH: 0.0}
    values = {fusion.RECALL_PRIOR: (0.5,), fusion.WATCH: fusion.WATCH_VALUES}
    held, _ = fusion.coordinate_ascent(fit_objective, heads, start, values_of=values)
    assert held[fusion.WATCH] == 0.0  # a head's test refuses it
    w, _ = fusion.coordinate_ascent(fit_objective, heads, start, values_of=values, z_of={fusion.WATCH: 0.0})
    assert w[fusion.WATCH] == 0.1
    for effect, kept in ((+0.05, True), (-0.05, False), (-0.001, True)):
        def check(weights, effect=effect):
            return base + effect * (weights[fusion.WATCH] == 0.1) + 0.0 * weights[fusion.RECALL_PRIOR]
        got, evidence = fusion.watch_earns_its_place(check, w)
        assert evidence["earned"] is kept and got[fusion.WATCH] == (0.1 if kept else 0.0)


def test_merged_tops_orders_as_the_recall_merge_does():
    """The merge fit's laid-out lists give the top 10 that core.recall.merge.merge gives, seen
    items dropped, ties included (equal weights and ranks make many)."""
    from core.recall.merge import merge
    rng = np.random.default_rng(3)
    lists, seen = [], []
    for _ in range(40):
        n = rng.integers(0, 60, size=4)
        lists.append([rng.choice(np.arange(1, 120), size=k, replace=False).astype(np.int64) for k in n])
        seen.append(rng.choice(np.arange(1, 120), size=int(rng.integers(0, 30)), replace=False))
    tops = fusion.MergedTops(lists, seen)
    for w in ([1.0, 1.0, 1.0, 1.0], [1.0, 0.2, 3.0, 0.3], [1.0, 30.0, 0.1, 0.1]):
        expect = []
        for user_lists, user_seen in zip(lists, seen):
            m = merge(list(enumerate(user_lists)), w).item_ids
            expect.append(m[~np.isin(m, user_seen)][:10])
        got = tops.tops(w)
        assert all(np.array_equal(a, b) for a, b in zip(got, expect))
