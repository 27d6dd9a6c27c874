"""Filters applied to the merged list. Each reports what it kept and what it removed."""
from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from services.common.user_state import UserStateData
from services.recall.merge import Merged


@dataclass(frozen=True)
class FilterResult:
    kept: Merged
    removed: np.ndarray  # int64 item ids removed, in input order


class Filter(abc.ABC):
    name: str

    @abc.abstractmethod
    def keep_mask(self, candidates: Merged, state: UserStateData) -> np.ndarray: ...

    def apply(self, candidates: Merged, state: UserStateData) -> FilterResult:
        keep = self.keep_mask(candidates, state)
        return FilterResult(candidates.take(keep), candidates.item_ids[~keep])


class DropSeen(Filter):
    """Drop items the user has already been shown."""

    name = "DropSeen"

    def keep_mask(self, candidates: Merged, state: UserStateData) -> np.ndarray:
        return ~np.isin(candidates.item_ids, state.seen_items)


class DropUnknown(Filter):
    """Drop ids the serving item table does not hold (removed or not yet indexed videos)."""

    name = "DropUnknown"

    def __init__(self, known_ids: np.ndarray):
        self.known_ids = np.sort(known_ids)

    def keep_mask(self, candidates: Merged, state: UserStateData) -> np.ndarray:
        if self.known_ids.size == 0:
            return np.zeros(len(candidates), dtype=bool)
        pos = np.minimum(np.searchsorted(self.known_ids, candidates.item_ids),
                         self.known_ids.size - 1)
        return self.known_ids[pos] == candidates.item_ids
