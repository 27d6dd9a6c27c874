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
