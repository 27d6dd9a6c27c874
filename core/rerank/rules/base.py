"""Rule contracts. A policy runs rules by stage, in this order:

* `Filter`   (the one contract, `core/filter.py`) removes candidates: `keep_mask` over the
             candidates still alive, with the request's `Operations` as context. Kept items stay
             in input order; kept + removed = the input. A soft filter's removals may come
             back to fill a short feed (the policy's `backfill`).
* `Booster`  adjusts relevance scores before selection (same length and order out as in).
* `Arranger` reorders the selected feed, taking replacements from the unselected survivors;
             it reports what it moved and what it dropped.
* `Inserter` puts items from a pool at fixed positions of the feed (forced slots).

Each rule's name is its reason code in the response.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from core.filter import Filter
from core.rerank.candidates import Candidates, Operations

__all__ = ["Arrangement", "Arranger", "Booster", "Filter", "Inserter"]


class Booster(abc.ABC):
    name: str

    @abc.abstractmethod
    def adjust(self, scores: np.ndarray, candidates: Candidates, ops: Operations) -> np.ndarray: ...


def multiply_relevance(scores: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Scores with each one's relevance multiplied by its factor, relevance measured above a
    floor: 0, or the lowest score where some are negative. A fused score is a sum of weighted
    terms (heads, the recall prior, the watch score, a negative `hate` weight) and may be
    negative; multiplied as it is, a boost would push a negative score further down."""
    floor = min(0.0, float(scores.min(initial=0.0)))
    return (floor + (scores - floor) * factors).astype(scores.dtype, copy=False)


@dataclass(frozen=True)
class Arrangement:
    feed: list[int]        # rows, display order
    dropped: list[int]     # rows taken out of the feed
    placed: set[int]       # rows this rule put at a position other than they had


class Arranger(abc.ABC):
    name: str

    @abc.abstractmethod
    def arrange(self, feed: list[int], spare: list[int], candidates: Candidates) -> Arrangement: ...


class Inserter(abc.ABC):
    name: str
    pool: str
    positions: tuple[int, ...]  # 0-based display positions

    @abc.abstractmethod
    def pool_rows(self, candidates: Candidates, ops: Operations, pool_ids_to_rows: dict[str, list[int]]) -> list[int]:
        """Rows eligible for this rule's slots, in preference order."""
