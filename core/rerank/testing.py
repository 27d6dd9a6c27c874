"""Candidate lists for the rerank tests (random but reproducible)."""
from __future__ import annotations

import numpy as np

from core.rerank.candidates import Candidates


def make_candidates(authors, categories=None, seed: int = 0, dim: int = 4, publish_ms=None) -> Candidates:
    n = len(authors)
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, dim))
    cats = np.ones(n, np.int64) if categories is None else np.asarray(categories, np.int64)
    pub = None if publish_ms is None else np.asarray(publish_ms, np.int64)
    return Candidates(np.arange(1, n + 1, dtype=np.int64),
                      np.sort(rng.random(n))[::-1].astype(np.float32),
                      np.asarray(authors, np.int64), cats,
                      (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), pub)
