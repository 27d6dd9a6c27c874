"""Determinantal point process selection: fast greedy MAP inference.

Chen, Zhang & Zhou, "Fast Greedy MAP Inference for Determinantal Point Process to Improve
Recommendation Diversity", NeurIPS 2018. The kernel is L = diag(q) S diag(q) with quality
q_i = exp(alpha * r_i) from the relevance r (min-max scaled to [0, 1]) and similarity
S_ij = (1 + cos(v_i, v_j)) / 2 (positive semi-definite for unit vectors). Each greedy step
adds the item with the largest gain in log det(L_Y); the gains are kept up to date by an
incremental Cholesky factor, so choosing k of n costs O(n k^2) instead of a determinant per
candidate per step.

`theta` in [0, 1) trades relevance against diversity as in the paper
(alpha = theta / (2 (1 - theta))): 0 ignores relevance, values near 1 approach relevance
order. `window` limits diversity to the last `window` chosen items (the paper's windowed
variant, for long feeds where a repeat 30 items apart is fine).
"""
from __future__ import annotations

import numpy as np

EPS = 1e-10


def dpp_kernel(relevance: np.ndarray, vectors: np.ndarray, theta: float) -> np.ndarray:
    if not 0.0 <= theta < 1.0:
        raise ValueError(f"theta must be in [0, 1), got {theta}")
    spread = float(relevance.max() - relevance.min()) if relevance.size else 0.0
    rel = (relevance - relevance.min()) / spread if spread > 0 else np.zeros(relevance.size)
    alpha = theta / (2.0 * (1.0 - theta))
    q = np.exp(alpha * rel)
    v = vectors.astype(np.float64)
    kernel = v @ v.T
    kernel += 1.0
    kernel *= 0.5 * q[:, None] * q[None, :]
    # A sliver of identity keeps L positive definite when two vectors coincide (or are zero).
    kernel[np.diag_indices_from(kernel)] += 1e-6
    return kernel


def _greedy(kernel: np.ndarray, count: int) -> list[int]:
    n = kernel.shape[0]
    cis = np.zeros((count, n))
    gains = np.diag(kernel).copy()  # d_i^2: the gain in det of adding i to the chosen set
    chosen: list[int] = []
    j = int(np.argmax(gains))
    while len(chosen) < count:
        if gains[j] < EPS:
            break
        chosen.append(j)
        if len(chosen) == count:
            break
        k = len(chosen) - 1
        e = (kernel[j] - cis[:k, j] @ cis[:k]) / np.sqrt(gains[j])
        cis[k] = e
        gains = gains - e * e
        gains[chosen] = -np.inf
        j = int(np.argmax(gains))
    return chosen


def _greedy_windowed(kernel: np.ndarray, count: int, window: int) -> list[int]:
    n = kernel.shape[0]
    chosen: list[int] = []
    available = np.ones(n, dtype=bool)
    while len(chosen) < min(count, n):
        recent = chosen[-(window - 1):] if window > 1 else []
        # Cholesky factor of the recent window, then the gain of each candidate against it.
        gains = np.diag(kernel).copy()
        if recent:
            sub = kernel[np.ix_(recent, recent)]
            chol = np.linalg.cholesky(sub)
            proj = np.linalg.solve(chol, kernel[recent])  # [w, n]
            gains = gains - np.sum(proj * proj, axis=0)
        gains[~available] = -np.inf
        j = int(np.argmax(gains))
        if gains[j] < EPS:
            break
        chosen.append(j)
        available[j] = False
    return chosen


def dpp_select(relevance: np.ndarray, vectors: np.ndarray, count: int, theta: float = 0.7,
               window: int | None = None) -> np.ndarray:
    """Indices of the chosen items, in pick order (at most `count`)."""
    n = relevance.size
    count = min(count, n)
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    kernel = dpp_kernel(relevance, vectors, theta)
    if window is not None and window < count:
        picks = _greedy_windowed(kernel, count, max(window, 1))
    else:
        picks = _greedy(kernel, count)
    return np.asarray(picks, dtype=np.int64)
