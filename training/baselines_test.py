"""Tuned baselines on a tiny generated world: the grid runs on a validation split before the
cutoff, the chosen point is the grid's best there, and the lists exclude seen items."""
from __future__ import annotations

import numpy as np

from training import baselines, data
from training.world import WorldConfig, generate


def _rows(seed=5):
    w = generate(WorldConfig(seed=seed, n_users=120, n_authors=20, n_videos=300, days=6), progress=False)
    ds = data.build(w, test_days=1)
    tr = ds.train
    return ds, baselines.Interactions(tr.user_idx, tr.item_idx, tr.ts_ms, tr.engaged, w.config.n_users, len(ds.items))


def test_tuning_reads_only_data_before_the_cutoff_and_picks_the_best_grid_point(monkeypatch):
    ds, rows = _rows()
    monkeypatch.setitem(baselines.GRIDS, "implicit_als", {"factors": [8], "regularization": [0.1, 1.0],
                                                          "alpha": [1.0], "impression_weight": [0.0]})
    tuned = baselines.tune(rows, ds.cutoff_ms, ds.end_ms - ds.cutoff_ms, max_users=50)
    for name, t in tuned.items():
        assert len(t["grid"]) == len(baselines.grid(name))
        assert t["validation"]["cutoff_ms"] < ds.cutoff_ms
        assert t["validation"]["ndcg@10"] == max(p["ndcg@10"] for p in t["grid"])
        assert t["chosen"] in [p["params"] for p in t["grid"]]


def test_top_lists_exclude_seen_items_and_knn_items_without_votes():
    seen = baselines.sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 0]], np.float32))
    scores = np.array([[9.0, 1.0, 0.0, 2.0], [0.0, 0.0, 3.0, 0.0]], np.float32)
    lists = baselines.top_lists(scores, seen, 3)
    assert lists[0].tolist() == [3, 1, 2] and 0 not in lists[0]
    assert lists[1][0] == 2


def test_decayed_popularity_prefers_what_was_engaged_lately():
    ds, rows = _rows()
    users = np.arange(3)
    recent = baselines.popularity(rows, ds.cutoff_ms, users, half_life_h=3)[0]
    all_time = baselines.popularity(rows, ds.cutoff_ms, users, half_life_h=0)[0]
    assert recent.shape == all_time.shape == (rows.n_items,)
    last_day = rows.engaged & (rows.ts_ms >= ds.cutoff_ms - 86_400_000)
    hot = np.bincount(rows.item_idx[last_day], minlength=rows.n_items)
    # the recent list's top item was engaged in the last day; all-time counts need not agree
    assert hot[np.argmax(recent)] > 0
