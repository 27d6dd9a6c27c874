import numpy as np

from core.rank.watch import FILE, WatchModel
from core.registry.reader import Registry
from training.publish import publish


def test_a_version_ships_the_model_and_scores_the_users_it_knows(tmp_path):
    model = WatchModel.build(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.array([0.0, 0.5, -1.0]),
                             np.array([30, 10]), np.array([[2.0, 0.0], [0.0, 3.0]]))
    assert model.user_ids.tolist() == [10, 30]  # sorted, rows moved with them
    model.save(tmp_path)
    publish(tmp_path / "reg", "ranker", {FILE: tmp_path / FILE}, {"kind": "test"})
    loaded = WatchModel.of(Registry(tmp_path / "reg").open("ranker"))
    np.testing.assert_allclose(loaded.score(30, np.array([0, 1, 2])), [2.0, 0.5, 1.0])
    np.testing.assert_allclose(loaded.score(10, np.array([0, 1, 2, -1, 3])), [0.0, 3.5, 2.0, 0.0, 0.0])
    assert np.all(loaded.score(20, np.array([0, 1, 2])) == 0)  # unknown user: the ranker's order alone


def test_a_version_without_the_file_has_no_watch_model(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    publish(tmp_path / "reg", "ranker", {"x.txt": tmp_path / "x.txt"}, {"kind": "test"})
    assert WatchModel.of(Registry(tmp_path / "reg").open("ranker")) is None


def test_scoring_adds_the_weighted_watch_score_to_the_rankers_fused_score():
    from core.context import RequestContext
    from core.items import ItemTable
    from core.rank import scoring
    from core.rank.model import LoadedModel
    from core.store.user_state import UserStateData

    class Session:  # a stand-in ONNX session: every candidate gets the same head probability
        def run(self, outputs, feeds):
            return [np.full((feeds["cat"].shape[0], 1), 0.5, np.float32)]

    n = 4
    z = np.zeros(n)
    items = ItemTable.from_columns(item_id=np.arange(1, n + 1), author_id=z + 1, category=z + 1,
                                   duration_s=z + 10, publish_ms=z, region=z + 1, log_pop=z)
    watch = WatchModel.build(np.zeros((n, 1)), np.array([0.0, 1.0, 3.0, 2.0]), np.array([5]), np.zeros((1, 1)))
    model = LoadedModel("ranker", "v0001", Session(), items, "sha", ("cat",), ("engaged",),
                        np.ones(1, np.float32), {}, watch=watch, watch_weight=0.5)
    state, ids = UserStateData(known=True), np.array([1, 2, 3, 4])
    got = scoring.score(RequestContext(user_id=5), state, ids, 0, model)
    assert got.item_ids.tolist() == [3, 4, 2, 1]
    np.testing.assert_allclose(got.fused, 0.5 + 0.5 * np.array([3.0, 2.0, 1.0, 0.0]))
    other = scoring.score(RequestContext(user_id=6), state, ids, 0, model)  # unknown to the watch model
    assert other.item_ids.tolist() == [1, 2, 3, 4] and np.allclose(other.fused, 0.5)
    # with a shown prior, an unknown user is read from their seen set: item 1's factor leads
    factors = np.array([[0.0], [1.0], [0.0], [-1.0]])
    cold = WatchModel.build(factors, np.zeros(n), np.array([5]), np.zeros((1, 1)), shown_prior=2.0)
    model = LoadedModel("ranker", "v0001", Session(), items, "sha", ("cat",), ("engaged",),
                        np.ones(1, np.float32), {}, watch=cold, watch_weight=0.5)
    seen = UserStateData(known=True, seen_items=np.array([2]))
    got = scoring.score(RequestContext(user_id=6), seen, np.array([1, 3, 4]), 0, model)
    assert got.item_ids.tolist() == [1, 3, 4] and np.allclose(got.fused, 0.5 + 0.5 * np.array([0.0, 0.0, -2.0]))
    # the pre-rank cut (keep 2 of 4; the pre-ranker ties everything) keeps the watch model's best
    model = LoadedModel("ranker", "v0001", Session(), items, "sha", ("cat",), ("engaged",),
                        np.ones(1, np.float32), {}, watch=watch, watch_weight=0.5)
    pre = LoadedModel("prerank", "v0001", Session(), items, "sha", ("cat",), ("engaged",), np.ones(1, np.float32), {})
    got = scoring.score(RequestContext(user_id=5), state, ids, 0, model, pre, keep=2)
    assert got.item_ids.tolist() == [3, 4] and got.kept == 2


def test_a_video_newer_than_the_version_scores_by_its_category_and_author(tmp_path):
    from core.items import ItemTable

    model = WatchModel.build(np.array([[1.0, 0.0]]), np.array([0.5]), np.array([10]), np.array([[2.0, 1.0]]))
    model = model.with_priors(np.array([3, 5]), np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0.1, 0.2]),
                              np.array([40]), np.array([0.25]))
    model.save(tmp_path)
    publish(tmp_path / "reg", "ranker", {FILE: tmp_path / FILE}, {"kind": "test"})
    loaded = WatchModel.of(Registry(tmp_path / "reg").open("ranker"))
    n = 5  # row 0 is the version's; rows 1-4 came from the live catalog
    items = ItemTable.from_columns(item_id=np.arange(1, n + 1), author_id=np.array([40, 40, 41, 40, 41]),
                                   category=np.array([3, 3, 5, 9, 9]), duration_s=np.full(n, 10.0),
                                   publish_ms=np.zeros(n), region=np.ones(n), log_pop=np.zeros(n))
    got = loaded.score(10, np.arange(n), items)
    # category 3: 2 + 0.1, author 40 +0.25; category 5: 1 + 0.2; category 9 unknown: 0 (+ author 40)
    np.testing.assert_allclose(got, [2.5, 2.35, 1.2, 0.25, 0.0], atol=1e-6)
    np.testing.assert_allclose(loaded.score(10, np.arange(n)), [2.5, 0, 0, 0, 0])  # no table: 0


def test_a_user_the_version_does_not_know_is_read_from_what_they_were_shown(tmp_path):
    model = WatchModel.build(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.array([0.0, 0.5, -1.0]),
                             np.array([10]), np.array([[2.0, 0.0]]), shown_prior=4.0)
    model.save(tmp_path)
    publish(tmp_path / "reg", "ranker", {FILE: tmp_path / FILE}, {"kind": "test"})
    loaded = WatchModel.of(Registry(tmp_path / "reg").open("ranker"))
    assert loaded.needs_seen(99) and not loaded.needs_seen(10)
    # user 99 was shown video 0 twice and an unknown one: vector 4 x (1, 0)
    got = loaded.score(99, np.array([0, 1, 2]), seen_idx=np.array([0, 0, -1]))
    np.testing.assert_allclose(got, [4.0, 0.5, 3.0])
    assert np.all(loaded.score(99, np.array([0, 1, 2])) == 0)  # nothing seen: no vector
    assert np.all(loaded.score(99, np.array([0, 1, 2]), seen_idx=np.zeros(0, np.int64)) == 0)
    np.testing.assert_allclose(loaded.score(10, np.array([0, 1])), [2.0, 0.5])  # known: their own


def _fitted(shown_prior: float = 0.0, weight: float = 1.0):
    from training import watch_mf
    rng = np.random.default_rng(3)
    n_users, n_items = 40, 30
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.4)
    y = rng.normal(size=u.size)
    ts = np.arange(u.size) + 1_000
    model = watch_mf.fit(u, i, y, n_users, n_items, np.arange(1, n_users + 1),
                         {"factors": 3, "iterations": 5, "shown_prior": shown_prior, "fold_in_weight": weight},
                         since_ms=int(ts.max()))
    return model, u, i, y


def _table(n: int):
    from core.items import ItemTable
    z = np.zeros(n)
    return ItemTable.from_columns(item_id=np.arange(1, n + 1), author_id=z + 1, category=z + 1,
                                  duration_s=z + 10, publish_ms=z, region=z + 1, log_pop=z)


def test_views_since_the_version_fold_in_as_one_more_user_step_over_all_rows():
    """Weight 1: the folded vector is the ridge solve over the user's fitted rows and the new
    views together (the item side fixed), what refitting the user alone would give."""
    from core.rank.watch import Watched, target
    model, u, i, y = _fitted()
    fold = model.fold_in
    user = 7
    new_items, new_ms = np.array([2, 5, 5, 11]), np.array([10_000, 500, 9_000, 3_000])
    watched = Watched(new_items, new_ms, np.full(4, fold.since_ms + 1))
    got = model.user_vector(user, watched=watched, items=_table(30))
    rows = u == user - 1
    idx = np.concatenate([i[rows], new_items])
    r = np.concatenate([y[rows], target(new_ms, np.full(4, 10.0))]) - fold.mu - model.item_bias[idx]
    x = np.hstack([model.item_factors[idx], np.ones((idx.size, 1))]).astype(np.float64)
    want = np.linalg.solve(x.T @ x + np.diag(fold.penalty), x.T @ r)[:3]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert not np.allclose(got, model.user_vector(user))


def test_views_the_fit_saw_or_of_unknown_videos_change_nothing_and_a_round_trip_keeps_the_fold_in(tmp_path):
    from core.rank.watch import Watched
    model, *_ = _fitted(shown_prior=20.0, weight=3.0)
    items, since = _table(30), model.fold_in.since_ms
    old = Watched(np.array([2, 5]), np.array([10_000, 500]), np.array([since, since - 5]))
    unknown = Watched(np.array([-1, 40]), np.array([10_000, 500]), np.array([since + 1, since + 1]))
    for views in (old, unknown):
        np.testing.assert_array_equal(model.user_vector(7, watched=views, items=items), model.user_vector(7))
    fresh = Watched(np.array([2, 5]), np.array([10_000, 500]), np.array([since + 1, since + 2]))
    model.save(tmp_path)
    publish(tmp_path / "reg", "ranker", {FILE: tmp_path / FILE}, {"kind": "test"})
    loaded = WatchModel.of(Registry(tmp_path / "reg").open("ranker"))
    assert loaded.fold_in.weight == 3.0 and loaded.fold_in.since_ms == since
    np.testing.assert_allclose(loaded.score(7, np.arange(30), items, None, None, fresh),
                               model.score(7, np.arange(30), items, None, None, fresh), rtol=1e-5)
    # a user the version does not know gets a vector from their views alone
    assert np.any(loaded.score(999, np.arange(30), items, None, None, fresh) != 0)
    assert np.all(loaded.score(999, np.arange(30), items) == 0)
