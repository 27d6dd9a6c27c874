"""Slot rules: fixed feed positions filled from a pool (forced slots).

`InsertOperationSlots` fills from a pool the request names (campaigns, announcements).
`InsertFreshSlots` gives new uploads exposure: its pool is the request's pool (default
"fresh") followed by candidates published less than `max_age_h` hours ago, best first.
Slots are applied after every other rule and are not subject to caps: they are forced.
An item already in the feed is not inserted twice; blocked items are never inserted.
"""
from __future__ import annotations

import numpy as np

from core.rerank.candidates import Candidates, Operations
from core.rerank.rules.base import Inserter

HOUR_MS = 3600 * 1000


def _positions(positions) -> tuple[int, ...]:
    out = tuple(sorted(int(p) for p in positions))
    if not out or out[0] < 0:
        raise ValueError("slot positions must be a non-empty list of 0-based positions")
    return out


class InsertOperationSlots(Inserter):
    name = "InsertOperationSlots"

    def __init__(self, positions=(0,), pool: str = "operations"):
        self.positions, self.pool = _positions(positions), pool

    def pool_rows(self, candidates: Candidates, ops: Operations, pool_ids_to_rows) -> list[int]:
        return list(pool_ids_to_rows.get(self.pool, []))


class InsertFreshSlots(Inserter):
    name = "InsertFreshSlots"

    def __init__(self, positions=(4,), max_age_h: float = 24.0, pool: str = "fresh"):
        if max_age_h <= 0:
            raise ValueError("InsertFreshSlots max_age_h must be > 0")
        self.positions, self.max_age_h, self.pool = _positions(positions), max_age_h, pool

    def pool_rows(self, candidates: Candidates, ops: Operations, pool_ids_to_rows) -> list[int]:
        rows = list(pool_ids_to_rows.get(self.pool, []))
        if candidates.publish_ms is not None and ops.now_ms:
            n = candidates.n_input
            age = ops.now_ms - candidates.publish_ms[:n]
            young = np.flatnonzero((age >= 0) & (age < self.max_age_h * HOUR_MS))
            rows += young[np.argsort(-candidates.scores[young], kind="stable")].tolist()
        return rows
