from core.store.item_meta import FIELDS, ItemMeta, generated_cover_url, parse_read


def test_metadata_round_trips_through_the_hash_fields():
    meta = ItemMeta("Ramen at 3 am", "/v1/covers/7.svg", "@mia.cooks", 31.5, ("cooking", "ramen"))
    mapping = meta.to_mapping()
    assert set(mapping) == set(FIELDS)
    assert ItemMeta.from_values([mapping[f].encode() for f in FIELDS]) == meta


def test_missing_items_and_fields_are_served_empty_not_failed():
    replies = [[None] * 5, [b"Title", None, None, b"not-a-number", b""]]
    out = parse_read([1, 2], replies)
    assert 1 not in out
    assert out[2] == ItemMeta("Title", "", "", 0.0, ())


def test_generated_cover_urls_are_paths_on_the_gateway():
    assert generated_cover_url(42) == "/v1/covers/42.svg"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_answers_what_it_was_told_until_the_ttl_runs_out():
    from core.store.item_meta import ItemMetaCache
    clock = Clock()
    cache = ItemMetaCache(ttl_s=30, timer=clock)
    meta = ItemMeta("A title")
    assert cache.split([1, 2]) == ({}, [1, 2])
    cache.store([1, 2], {1: meta})                   # 2 has no display info: cached as such
    assert cache.split([1, 2, 3]) == ({1: meta}, [3])
    clock.now = 31
    assert cache.split([1, 2]) == ({}, [1, 2])       # expired: read again


def test_a_published_edit_is_seen_at_once_and_ttl_zero_turns_the_cache_off():
    from core.store.item_meta import ItemMetaCache
    cache = ItemMetaCache(ttl_s=30)
    cache.store([1], {})
    cache.put(1, ItemMeta("new"))
    assert cache.split([1]) == ({1: ItemMeta("new")}, [])
    off = ItemMetaCache(ttl_s=0)
    off.store([1], {1: ItemMeta("x")})
    assert off.split([1]) == ({}, [1])


def test_the_cache_is_bounded():
    from core.store.item_meta import ItemMetaCache
    cache = ItemMetaCache(ttl_s=30, max_items=2)
    cache.store([1, 2, 3], {i: ItemMeta(str(i)) for i in (1, 2, 3)})
    hits, misses = cache.split([1, 2, 3])
    assert len(hits) == 2 and len(misses) == 1
