"""Selectors choose `count` items from the survivors of the filters, in display order."""
from __future__ import annotations

import abc

import numpy as np

from core.rerank.dpp import dpp_select
from core.rerank.mmr import mmr_select


class Selector(abc.ABC):
    name: str

    @abc.abstractmethod
    def select(self, scores: np.ndarray, vectors: np.ndarray, count: int) -> np.ndarray:
        """Indices into the inputs, display order, at most `count`, distinct."""


class ByRelevance(Selector):
    name = "Relevance"

    def select(self, scores, vectors, count):
        return np.argsort(-scores, kind="stable")[:count]


class MMR(Selector):
    name = "MMR"

    def __init__(self, lam: float = 0.7):
        if not 0 <= lam <= 1:
            raise ValueError(f"MMR lambda must be in [0, 1], got {lam}")
        self.lam = lam

    def select(self, scores, vectors, count):
        return mmr_select(scores, vectors, count, self.lam)


class DPP(Selector):
    name = "DPP"

    def __init__(self, theta: float = 0.7, window: int | None = None):
        if not 0 <= theta < 1:
            raise ValueError(f"DPP theta must be in [0, 1), got {theta}")
        self.theta, self.window = theta, window

    def select(self, scores, vectors, count):
        return dpp_select(scores, vectors, count, self.theta, self.window)


def build_selector(spec: dict | None) -> Selector:
    spec = dict(spec or {"kind": "relevance"})
    kind = spec.pop("kind", "relevance")
    if kind == "relevance":
        return ByRelevance()
    if kind == "mmr":
        return MMR(spec.get("lambda", 0.7))
    if kind == "dpp":
        return DPP(spec.get("theta", 0.7), spec.get("window"))
    raise ValueError(f"unknown selector kind {kind!r} (relevance, mmr, dpp)")
