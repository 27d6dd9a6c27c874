"""Stable user bucketing for canaries and experiments: the same user always lands in the
same bucket, independent of process, machine and Python's hash seed."""
from __future__ import annotations

import hashlib

BUCKETS = 10_000


def bucket(user_id: int, salt: str = "") -> int:
    """0..BUCKETS-1 from a keyed hash of the user id (`salt` separates independent layers)."""
    digest = hashlib.blake2b(f"{salt}:{int(user_id)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def in_share(user_id: int, percent: float, salt: str = "") -> bool:
    """True for a stable `percent` (0..100) of users."""
    return bucket(user_id, salt) < percent * BUCKETS / 100.0
