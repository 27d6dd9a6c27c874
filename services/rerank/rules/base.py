"""The rule contract: a rule keeps some candidates and removes the rest, with a reason.

`kept` and `removed` are indices into the input; together they are exactly the input, and
`kept` is in input order.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from services.rerank.candidates import Candidates


@dataclass(frozen=True)
class RuleResult:
    kept: np.ndarray     # int64 indices, input order
    removed: np.ndarray  # int64 indices
    reason: str          # reason code for every removed item (the rule's name)


class Rule(abc.ABC):
    name: str

    @abc.abstractmethod
    def keep_mask(self, candidates: Candidates) -> np.ndarray: ...

    def apply(self, candidates: Candidates) -> RuleResult:
        keep = self.keep_mask(candidates)
        return RuleResult(np.flatnonzero(keep), np.flatnonzero(~keep), self.name)
