"""The merge-fit probe's ways of fitting, on channel lists made up so that one channel holds
each user's positives: every way finds it, and each is judged against the defaults."""
from __future__ import annotations

import numpy as np

from training import merge_fit_probe as probe


def cache(seed: int, users: int = 60) -> dict:
    rng = np.random.default_rng(seed)
    names = ["two_tower", "good", "noise"]
    lists, seen, truths = [], [], []
    for _ in range(users):
        truth = rng.choice(np.arange(1, 500), size=3, replace=False)
        noise = rng.permutation(np.setdiff1d(np.arange(1, 500), truth))
        good = np.concatenate([truth, noise[:40]])  # the positives first
        lists.append([noise[40:100], good, noise[100:160]])
        seen.append(noise[200:210])
        truths.append(truth)
    return {"names": names, "defaults": {"two_tower": 1.0, "good": 0.2, "noise": 1.0}, "lists": lists,
            "seen": seen, "truths": truths}


def test_every_way_finds_the_channel_that_holds_the_positives_and_is_judged_on_test():
    report = probe.judge(cache(0), cache(1))
    assert set(report) == {"defaults", "fit", "z1_per_step", "gain_2pct", "bagged10"}
    assert report["defaults"]["vs_defaults"] == 0.0
    for way in ("fit", "z1_per_step", "gain_2pct", "bagged10"):
        assert report[way]["weights"]["good"] > 1.0 and report[way]["weights"]["two_tower"] == 1.0
        assert report[way]["test_ndcg@10"] > report["defaults"]["test_ndcg@10"]  # judged on the test users
        assert report[way]["vs_defaults"] > report[way]["ci95"]
