"""Per-caller rate limits: token buckets per API key, per user and for catalog publishes.

A bucket holds up to `burst` tokens and refills at `rate` per second; a call takes one or is
refused with RESOURCE_EXHAUSTED (core.errors.Overloaded), the answer Envoy's local rate
limit and Redis-backed limiters give, so a client backs off and retries instead of queueing.
Limits are per gateway replica (no shared state on the hot path): the fleet's limit is the
replica count times this one. A rate of 0 switches a limit off.

Pure logic: the gRPC servicers and an HTTP handler share it.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from core import metrics
from core.errors import Overloaded


class KeyedBuckets:
    """One token bucket per key. At most `max_keys` buckets are remembered, least recently
    used dropped first (memory stays bounded whatever the callers send); a dropped key comes
    back with a full bucket, which only ever errs toward letting a call through."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic):
        if rate > 0 and burst < 1:
            raise ValueError(f"burst must be >= 1 when rate > 0, got {burst}")
        self.rate, self.burst, self.max_keys, self.clock = rate, burst, max_keys, clock
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, key: Hashable = None) -> bool:
        if not self.enabled:
            return True
        now = self.clock()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed


def check(buckets: KeyedBuckets, limit: str, key: Hashable = None) -> None:
    """Take one token for `key` or raise Overloaded naming the limit."""
    if not buckets.allow(key):
        metrics.RATE_LIMITED.labels(limit).inc()
        raise Overloaded(f"{limit}: over the limit of {buckets.rate:g} calls/s; retry later")
