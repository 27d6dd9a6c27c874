"""The one `Filter` contract, for recall's merged list and rerank's candidates alike.

A filter removes candidates and never reorders them: `keep_mask(candidates, context)` returns
one bool per candidate, in input order; the kept ones stay in that order, and kept + removed is
the input. `context` is what the stage knows about the request (recall: the user's state;
rerank: the request's operations). A soft filter's removals may come back to fill a short
feed (rerank's `backfill`). The filter's `name` is its reason code in responses.
"""
from __future__ import annotations

import abc
from typing import Any

import numpy as np


class Filter(abc.ABC):
    name: str
    soft: bool = False

    @abc.abstractmethod
    def keep_mask(self, candidates: Any, context: Any) -> np.ndarray:
        """One bool per candidate, True = keep."""
