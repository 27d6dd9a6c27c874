import pytest

from core.errors import Overloaded
from gateway.limits import KeyedBuckets, check


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_a_bucket_allows_its_burst_then_its_rate():
    clock = Clock()
    buckets = KeyedBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.allow("k") for _ in range(4)] == [True, True, True, False]
    clock.t = 0.5  # one token back
    assert [buckets.allow("k") for _ in range(2)] == [True, False]
    clock.t = 100.0  # never more than the burst
    assert sum(buckets.allow("k") for _ in range(10)) == 3


def test_keys_have_their_own_buckets_and_memory_is_bounded():
    clock = Clock()
    buckets = KeyedBuckets(rate=1.0, burst=1, max_keys=2, clock=clock)
    assert buckets.allow("a") and buckets.allow("b") and not buckets.allow("a")
    buckets.allow("c")  # "b" is the least recently used: forgotten
    assert len(buckets._buckets) == 2 and buckets.allow("b")


def test_rate_zero_is_off():
    buckets = KeyedBuckets(rate=0, burst=0)
    assert all(buckets.allow(i % 3) for i in range(1000))


def test_a_rate_without_a_burst_is_refused():
    with pytest.raises(ValueError):
        KeyedBuckets(rate=5, burst=0)


def test_check_raises_overloaded_naming_the_limit():
    buckets = KeyedBuckets(rate=1.0, burst=1, clock=Clock())
    check(buckets, "per_user", 7)
    with pytest.raises(Overloaded, match="per_user"):
        check(buckets, "per_user", 7)
