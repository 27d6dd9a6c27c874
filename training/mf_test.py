import numpy as np

from training import baselines, mf


def test_folded_in_vectors_rank_as_the_fitted_user_factors():
    # the served vector (solved from a user's rows) must agree with what ALS fitted for that user
    rng = np.random.default_rng(3)
    n_users, n_items = 200, 60
    taste = rng.integers(0, 3, n_users)
    user = np.repeat(np.arange(n_users), 12)
    item = (taste[user] * 20 + rng.integers(0, 20, user.size)).astype(np.int64)
    engaged = rng.random(user.size) < 0.5
    rows = baselines.Interactions(user, item, np.arange(user.size), engaged, n_users, n_items)
    params = {"factors": 8, "regularization": 0.1, "alpha": 10.0, "impression_weight": 0.2}
    m = mf.fit(rows, params, seed=7)
    als = baselines.implicit_als(rows, 0, np.arange(n_users), seed=7, **params)  # user x item scores
    agree = []
    for u in range(20):
        mine = rows.user_idx == u
        x = m.user_vector(item[mine & engaged], item[mine])
        ours, theirs = m.factors @ x, als[u]
        agree.append(np.corrcoef(ours, theirs)[0, 1])
    assert np.min(agree) > 0.95, agree
    assert m.factors.shape == (n_items, 8) and m.impression_weight == 0.2
