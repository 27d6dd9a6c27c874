import numpy as np

from training import data
from training.world import WorldConfig, generate


def test_split_is_by_time_and_sequences_only_look_back():
    w = generate(WorldConfig(seed=4, n_users=80, n_authors=15, n_videos=300, days=6), progress=False)
    ds = data.build(w, test_days=2)
    assert ds.train.ts_ms.max() < ds.cutoff_ms <= ds.test.ts_ms.min()
    # every sequence item was engaged by that user strictly before the row's time
    imp = w.impressions
    engaged = data.engaged_mask(w)
    first_engaged = {}
    for u, i, t in zip(imp["user_id"][engaged] - 1, imp["item_id"][engaged] - 1, imp["ts_ms"][engaged]):
        first_engaged.setdefault((u, i), t)
    for rows in (ds.train, ds.test):
        for r in np.random.default_rng(0).choice(len(rows), 300, replace=False):
            for item in rows.users.seq_idx[r][rows.users.seq_idx[r] >= 0]:
                assert first_engaged[(rows.user_idx[r], item)] < rows.ts_ms[r]
    # item popularity is counted on the training window only
    late = ds.items.log_pop  # recomputed with all data would differ:
    full = data.item_table(w).log_pop
    assert np.any(full > late)
