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


def test_sequences_are_distinct_newest_first_as_the_online_list_keeps_them():
    """Brute force: replay each user's engagements before the row the way the event writer
    does (LREM + LPUSH) and compare with the vectorised sequences."""
    rng = np.random.default_rng(3)
    n = 400
    user = rng.integers(0, 4, n)
    item = rng.integers(0, 12, n)  # few items: many re-engagements
    ts = rng.permutation(n).astype(np.int64) * 10
    engaged = rng.random(n) < 0.6
    seqs = data._sequences(user, item, ts, engaged, 4)
    for r in range(n):
        recent: list[int] = []
        before = np.flatnonzero((user == user[r]) & engaged & (ts < ts[r]))
        for j in before[np.argsort(ts[before])]:
            if item[j] in recent:
                recent.remove(item[j])
            recent.insert(0, int(item[j]))
        expected = (recent + [-1] * data.SEQ_LEN)[: data.SEQ_LEN]
        assert seqs[r].tolist() == expected, r


def test_sampled_negatives_are_published_before_the_row_and_as_old_as_what_gets_shown():
    w = generate(WorldConfig(seed=4, n_users=80, n_authors=15, n_videos=300, days=6), progress=False)
    ds = data.build(w, test_days=2)
    pos = ds.train.take(ds.train.engaged)
    neg = data.sampled_negatives(ds, w, pos, 8, np.random.default_rng(0))
    assert len(neg) == 8 * len(pos) and not neg.labels.any() and not neg.engaged.any()
    publish = ds.items.publish_ms
    assert np.all(publish[neg.item_idx] <= neg.ts_ms)
    age = lambda rows: np.mean(rows.ts_ms - publish[rows.item_idx]) / data.DAY_MS  # noqa: E731
    assert abs(age(neg) - age(ds.train)) < 0.2 * age(ds.train)
    # uniform over items of that age: many distinct items, not the popular few
    assert np.unique(neg.item_idx).size > 0.5 * len(ds.items)


def test_candidate_negatives_come_from_the_users_own_candidates_published_before_the_row():
    w = generate(WorldConfig(seed=4, n_users=80, n_authors=15, n_videos=300, days=6), progress=False)
    ds = data.build(w, test_days=2)
    pos = ds.train.take(ds.train.engaged)
    # each user's "candidates": ten items of their own, one unknown id, none for user 0
    own = {u: ds.items.item_id[np.random.default_rng(u).choice(len(ds.items), 10, replace=False)]
           for u in np.unique(pos.user_idx)}
    asked = []

    def candidates_of(u):
        asked.append(u)
        return np.array([], np.int64) if u == 0 else np.append(own[u], 10**9)

    neg = data.candidate_negatives(ds, w, pos, 3, np.random.default_rng(0), candidates_of)
    assert sorted(asked) == sorted(own)  # once per user, not once per row
    assert not neg.labels.any() and not neg.engaged.any() and 0 not in neg.user_idx
    publish = ds.items.publish_ms
    assert np.all(publish[neg.item_idx] < neg.ts_ms)
    for u in np.unique(neg.user_idx):
        assert set(ds.items.item_id[neg.item_idx[neg.user_idx == u]]) <= set(own[u])
    # every row with an eligible candidate gets exactly 3; the row's user side is the row's
    for r in np.flatnonzero(pos.user_idx != 0)[:50]:
        eligible = (publish[ds.items.index_of(own[pos.user_idx[r]])] < pos.ts_ms[r]).any()
        same = lambda rows, r=r: (rows.user_idx == pos.user_idx[r]) & (rows.ts_ms == pos.ts_ms[r])  # noqa: E731
        assert same(neg).sum() == (3 if eligible else 0) * same(pos).sum()
    # follows_author is recomputed for the negative's own item
    expect = data._follows_at(w, neg.user_idx, ds.items.author_id[neg.item_idx], neg.ts_ms)
    assert np.array_equal(neg.users.follows_author, expect)
