from training.display import category_name, tag_name, video_meta
from training.world import WorldConfig, generate


def test_titles_are_deterministic_from_the_seed_and_follow_the_category():
    config = WorldConfig(n_users=20, n_videos=200, n_authors=30, days=2)
    a, b = video_meta(generate(config, progress=False)), video_meta(generate(config, progress=False))
    assert a == b and len(a) == 200
    world = generate(config, progress=False)
    for item, meta in a.items():
        cat = int(world.videos["category"][item - 1])
        assert meta.title and meta.author_name.startswith("@") and meta.duration_s > 0
        assert meta.tags[0] == category_name(cat).lower()
        assert meta.cover_url == f"/v1/covers/{item}.svg"


def test_names_beyond_the_named_categories_fall_back():
    assert category_name(1) == "Comedy" and category_name(99) == "Category 99"
    assert tag_name(1, 4) == "sketch" and tag_name(999, 4) == "tag999"
