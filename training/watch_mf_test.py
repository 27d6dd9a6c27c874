"""The watch model's fit recovers a planted biased low-rank structure, and its target is the
logit of the clipped watched fraction."""
import numpy as np

from training import watch_mf


def test_target_is_the_logit_of_the_clipped_fraction():
    y = watch_mf.target(np.array([0, 5_500, 11_000, 50_000]), np.array([10.0, 10.0, 10.0, 10.0]))
    lo, hi = np.log(0.01 / 0.99), np.log(0.99 / 0.01)
    np.testing.assert_allclose(y, [lo, 0.0, hi, hi], atol=1e-9)  # 55% of 1.1 is the midpoint


def test_fit_recovers_a_planted_structure_on_pairs_it_never_saw():
    rng = np.random.default_rng(0)
    n_users, n_items, f = 300, 200, 4
    p, q = rng.normal(size=(n_users, f)), rng.normal(size=(n_items, f))
    b_item = rng.normal(size=n_items)
    truth = b_item[None, :] + p @ q.T  # the user's constant does not order their items
    pairs = rng.random((n_users, n_items)) < 0.25
    u, i = np.nonzero(pairs)
    y = truth[u, i] + 0.5 * rng.normal(size=u.size) + rng.normal(size=n_users)[u]
    model = watch_mf.fit(u, i, y, n_users, n_items, np.arange(1, n_users + 1) * 10,
                         {"factors": 4, "reg_user": 1.0, "reg_item": 1.0, "iterations": 15})
    unseen = ~pairs
    got = np.stack([model.score(int(uid), np.arange(n_items)) for uid in np.arange(1, n_users + 1) * 10])
    r = np.corrcoef(got[unseen], truth[unseen])[0, 1]
    assert r > 0.9
    assert np.all(model.score(7, np.arange(n_items)) == 0)  # an id the fit never saw


def test_items_without_rows_score_as_the_average_and_users_without_rows_are_left_out():
    u, i, y = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), np.array([1.0, -1.0, 1.0, -1.0])
    model = watch_mf.fit(u, i, y, 3, 4, np.array([11, 12, 13]), {"factors": 2, "iterations": 3})
    assert model.user_ids.tolist() == [11, 12]
    s = model.score(11, np.array([0, 1, 2, 3, -1, 99]))
    assert s[0] > s[1] and s[2] == 0.0 and s[3] == 0.0 and s[4] == 0.0 and s[5] == 0.0


def test_items_shrink_towards_their_category_and_author_and_unseen_items_get_the_prior():
    """Category 1's videos are watched longer than category 2's, author 7's most of all: a
    video of category 1 no one has seen scores above one of category 2, and by author 7 above
    another author's; one seen once stays near its category, not at its one row's extreme."""
    rng = np.random.default_rng(1)
    n_users, n_items = 200, 60
    category = np.where(np.arange(n_items) < 30, 1, 2)
    author = np.where(np.arange(n_items) % 3 == 0, 7, 8)
    appeal = np.where(category == 1, 1.0, -1.0) + np.where(author == 7, 0.5, 0.0)
    seen = np.arange(n_items) < 56  # 56..59 never shown: 56, 57 of category 2 (57 by author 7)
    u, i = np.nonzero((rng.random((n_users, n_items)) < 0.3) & seen[None, :])
    y = appeal[i] + 0.5 * rng.normal(size=u.size)
    keep = (i != 0) | (u == u[i == 0][0])  # video 0 (category 1, author 7) shown once
    y[(i == 0) & keep] = -4.0  # ... and skipped
    u, i, y = u[keep], i[keep], y[keep]
    model = watch_mf.fit(u, i, y, n_users, n_items, np.arange(1, n_users + 1), {"factors": 2},
                         category=category, author=author)
    s = model.score(1, np.arange(n_items))
    assert s[57] > s[56] + 0.3  # unseen: author 7 over author 8, both category 2
    assert abs(s[56] - s[30:56][author[30:56] == 8].mean()) < 0.3  # an unseen video scores as its peers
    assert s[0] > s[56]  # one skip does not sink a category-1 video below category 2's average
    assert model.category_ids.tolist() == [1, 2] and model.author_ids.tolist() == [7, 8]


def test_the_age_term_is_fitted_apart_from_the_items_and_stops_at_the_logs_ages():
    """Every video is watched less as it ages (−0.1 logit a day) and shown at many ages: the
    slope comes out near −0.1, the item biases keep only the videos' own appeal, and the
    serving score at a later time applies it up to the cap (the log's 99th percentile age)."""
    from core.items import ItemTable

    rng = np.random.default_rng(2)
    n_users, n_items, rows = 100, 40, 8000
    u, i = rng.integers(0, n_users, rows), rng.integers(0, n_items, rows)
    age = rng.uniform(0, 10, rows)
    appeal = np.linspace(-1, 1, n_items)
    y = appeal[i] - 0.1 * age + 0.3 * rng.normal(size=rows)
    day = 86_400_000
    items = ItemTable.from_columns(item_id=np.arange(1, n_items + 1), author_id=np.ones(n_items, np.int64),
                                   category=np.ones(n_items, np.int64), duration_s=np.full(n_items, 10.0),
                                   publish_ms=np.zeros(n_items, np.int64), region=np.ones(n_items, np.int64),
                                   log_pop=np.zeros(n_items))
    model = watch_mf.fit(u, i, y, n_users, n_items, np.arange(1, n_users + 1), {"factors": 2}, age_days=age)
    assert abs(model.age_slope + 0.1) < 0.01 and 9.5 < model.age_cap_days <= 10
    fresh, later = model.score(1, np.arange(n_items), items, 0), model.score(1, np.arange(n_items), items, 5 * day)
    np.testing.assert_allclose(later - fresh, 5 * model.age_slope, atol=1e-5)
    capped = model.score(1, np.arange(n_items), items, 50 * day) - fresh
    np.testing.assert_allclose(capped, model.age_slope * model.age_cap_days, atol=1e-5)
    assert np.corrcoef(fresh, appeal)[0, 1] > 0.95


def test_a_user_leans_towards_the_videos_they_were_shown():
    """Two kinds of video, users who watch their own kind longer; user 0 has three rows, all
    of kind A and all watched an average amount. With the shown prior, an unseen video of
    kind A scores above one of kind B for them; without it the three rows say nothing."""
    rng = np.random.default_rng(3)
    n_users, n_items = 200, 40
    kind = np.arange(n_items) % 2  # 0 = A, 1 = B
    taste = np.arange(n_users) % 2
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.3)
    keep = (u != 0) | ((kind[i] == 0) & (i < 6))  # user 0: videos 0, 2, 4 only
    u, i = u[keep], i[keep]
    y = np.where(kind[i] == taste[u], 1.0, -1.0) + 0.3 * rng.normal(size=u.size)
    y[u == 0] = 0.0
    unseen_a, unseen_b = 38, 39
    with_prior = watch_mf.fit(u, i, y, n_users, n_items, np.arange(1, n_users + 1), {"factors": 2})
    without = watch_mf.fit(u, i, y, n_users, n_items, np.arange(1, n_users + 1), {"factors": 2, "shown_prior": 0})
    lean = with_prior.score(1, np.array([unseen_a, unseen_b]))
    item_gap = with_prior.item_bias[unseen_a] - with_prior.item_bias[unseen_b]
    assert lean[0] - lean[1] > item_gap + 0.2
    plain = without.score(1, np.array([unseen_a, unseen_b]))
    assert abs((plain[0] - plain[1]) - (without.item_bias[unseen_a] - without.item_bias[unseen_b])) < 0.1


def test_a_rising_age_term_is_capped_too():
    from core.items import ItemTable
    from core.rank.watch import WatchModel

    day = 86_400_000
    items = ItemTable.from_columns(item_id=np.array([1, 2, 3]), author_id=np.ones(3, np.int64),
                                   category=np.ones(3, np.int64), duration_s=np.full(3, 10.0),
                                   publish_ms=np.array([0, 8 * day, 20 * day]), region=np.ones(3, np.int64),
                                   log_pop=np.zeros(3))
    model = WatchModel.build(np.zeros((3, 1)), np.zeros(3), np.array([1]), np.zeros((1, 1)),
                             age_slope=0.1, age_cap_days=5.0)
    # ages 10, 2 and -10 days: capped at 5, as is, and at 0
    np.testing.assert_allclose(model.score(1, np.array([0, 1, 2, -1]), items, 10 * day), [0.5, 0.2, 0.0, 0.0],
                               atol=1e-6)
