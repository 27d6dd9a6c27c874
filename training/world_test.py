import numpy as np
import pytest

from training.world import World, WorldConfig, generate

SMALL = WorldConfig(seed=3, n_users=60, n_authors=12, n_videos=150, days=4)


def test_same_seed_same_world(tmp_path):
    a, b = generate(SMALL, progress=False), generate(SMALL, progress=False)
    for table in ("videos", "impressions", "follows"):
        for col, arr in getattr(a, table).items():
            assert np.array_equal(arr, getattr(b, table)[col]), (table, col)
    a.save(tmp_path)
    c = World.load(tmp_path)
    assert np.array_equal(c.impressions["item_id"], a.impressions["item_id"])


def test_ids_start_at_one_and_videos_come_in_publish_order():
    w = generate(SMALL, progress=False)
    assert w.videos["item_id"][0] == 1 and w.users["user_id"][0] == 1
    assert np.all(np.diff(w.videos["publish_ms"]) >= 0)
    imp = w.impressions
    # nobody is shown a video before it is published
    assert np.all(w.videos["publish_ms"][imp["item_id"] - 1] <= imp["ts_ms"])
    assert np.all(np.diff(imp["ts_ms"]) >= 0)
    assert set(np.unique(w.videos["category"])) <= set(range(1, SMALL.n_categories + 1))


def test_popularity_has_a_heavy_tail():
    w = generate(WorldConfig(seed=5, n_users=300, n_videos=1000, n_authors=50, days=5), progress=False)
    counts = np.sort(np.bincount(w.impressions["item_id"]))[::-1]
    top_share = counts[: len(counts) // 10].sum() / counts.sum()
    assert top_share > 0.3  # the top 10% of videos get far more than 10% of impressions


def test_oracle_relevance_is_a_probability():
    w = generate(SMALL, progress=False)
    p = w.oracle_relevance(1, np.arange(1, 151), SMALL.end_ms)
    assert p.shape == (150,) and np.all((p > 0) & (p < 1))


def test_bad_sizes_are_rejected_naming_the_flag():
    with pytest.raises(ValueError, match="--users"):
        WorldConfig(n_users=0).validate()


def test_published_videos_extend_the_catalog_and_are_scored_like_the_rest():
    w = generate(SMALL, progress=False)
    n0 = w.videos["item_id"].size
    now = w.config.end_ms + 3600_000
    new = w.publish(20, now, np.random.default_rng(1))
    assert new["item_id"].tolist() == list(range(n0 + 1, n0 + 21))
    assert all(w.videos[k].shape[0] == n0 + 20 for k in w.videos)
    assert w.truth["item_trait"].shape[0] == n0 + 20
    assert (w.videos["publish_ms"][n0:] == now).all()
    # an author's new video is from the author's region, mostly in the author's category
    authors = new["author_id"] - 1
    assert (new["region"] == w.authors["region"][authors]).all()
    assert (new["category"] == w.authors["main_category"][authors]).mean() >= 0.5
    aff = w.affinity(np.zeros(n0 + 20, dtype=np.int64), np.arange(n0 + 20), now)
    assert np.isfinite(aff).all()
    # publishing none changes nothing
    assert w.publish(0, now, np.random.default_rng(2))["item_id"].size == 0


def test_category_traits_are_each_categorys_mean_trait_and_replace_the_truth_in_affinity():
    world = generate(WorldConfig(seed=3, n_users=20, n_authors=5, n_videos=120, days=2), progress=False)
    means = world.category_traits()
    v, trait = world.videos, world.truth["item_trait"]
    c = int(v["category"][0])
    np.testing.assert_allclose(means[c], trait[v["category"] == c].mean(axis=0))
    users, items, now = np.zeros(120, np.int64), np.arange(120), world.config.end_ms
    as_category = world.affinity(users, items, now, trait=means[v["category"]])
    assert not np.allclose(as_category, world.affinity(users, items, now))
    # the taste term is then one value per category: videos of a category differ only by the rest
    taste_term = as_category - world.affinity(users, items, now, trait=np.zeros_like(trait))
    same = v["category"] == c
    np.testing.assert_allclose(taste_term[same], taste_term[same][0], atol=1e-9)
