from core.store import keys as K
from core.store.keys import Keys


def test_user_keys_share_a_hash_tag_and_carry_the_layout_version():
    k = Keys("p")
    user_keys = [k.profile(42), k.seq(42), k.seen(42), k.follows(42)]
    assert all(key.startswith("p:v2:{u:42}:") for key in user_keys)
    assert len(set(user_keys)) == 4


def test_hot_buckets_of_a_scope_share_a_slot():
    k = Keys("p")
    assert k.hot("g", 10) == "p:v2:{hot:g}:10"
    assert k.hot_aggregate("r3") == "p:v2:{hot:r3}:agg"
    assert K.hot_bucket(2 * K.HOT_BUCKET_MS + 5) == 2


def test_prefixes_isolate():
    assert Keys("a").seq(1) != Keys("b").seq(1)
    assert Keys("a").pattern() == "a:*"
