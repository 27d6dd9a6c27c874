"""Filters applied to the merged list (the `core/filter.py` contract, the user's state as
context). Each reports what it kept and what it removed."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.filter import Filter
from core.recall.live_catalog import LiveCatalog
from core.recall.merge import Merged
from core.store.user_state import UserStateData


@dataclass(frozen=True)
class FilterResult:
    kept: Merged
    removed: np.ndarray  # int64 item ids removed, in input order


def apply_filter(f: Filter, candidates: Merged, state: UserStateData) -> FilterResult:
    """Run one filter (the `core/filter.py` contract, the user's state as context)."""
    keep = f.keep_mask(candidates, state)
    return FilterResult(candidates.take(keep), candidates.item_ids[~keep])


class DropSeen(Filter):
    """Drop items the user has already been shown."""

    name = "DropSeen"

    def keep_mask(self, candidates: Merged, state: UserStateData) -> np.ndarray:
        return ~np.isin(candidates.item_ids, state.seen_items)


class DropBlockedAuthors(Filter):
    """Drop videos of the authors the user blocked (BLOCK events, in the request's state)."""

    name = "DropBlockedAuthors"

    def __init__(self, catalog: LiveCatalog):
        self.catalog = catalog

    def keep_mask(self, candidates: Merged, state: UserStateData) -> np.ndarray:
        if state.blocked_authors.size == 0:
            return np.ones(len(candidates), dtype=bool)
        return ~np.isin(self.catalog.authors_of(candidates.item_ids), state.blocked_authors)


class DropUnavailable(Filter):
    """Drop ids the live catalog does not hold or holds as removed: videos taken down (at
    once, through the catalog follower) and ids no model version nor online publish knows."""

    name = "DropUnavailable"

    def __init__(self, catalog: LiveCatalog):
        self.catalog = catalog

    def keep_mask(self, candidates: Merged, state: UserStateData) -> np.ndarray:
        return self.catalog.available(candidates.item_ids)
