"""Offline metrics, plain numpy."""
from __future__ import annotations

import numpy as np


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = np.asarray(scores)[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def gauc(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """Per-group AUC averaged with weights = group size, over groups with both classes."""
    total, weight = 0.0, 0
    order = np.argsort(groups, kind="stable")
    g, lab, sc = groups[order], labels[order], scores[order]
    bounds = np.flatnonzero(np.diff(g)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, g.size]):
        a = auc(lab[lo:hi], sc[lo:hi])
        if not np.isnan(a):
            total += a * (hi - lo)
            weight += hi - lo
    return total / weight if weight else float("nan")


def recall_at_k(top: np.ndarray, truth: list[np.ndarray]) -> float:
    """Mean over users of |top-k ∩ truth| / |truth| (users with empty truth skipped)."""
    values = [np.isin(t, row).mean() for row, t in zip(top, truth) if t.size]
    return float(np.mean(values)) if values else float("nan")


def logloss(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy."""
    p = np.clip(np.asarray(probs, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(labels, dtype=np.float64)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()) if y.size else float("nan")


def ndcg_per_user(top, truth: list[np.ndarray], k: int = 10) -> np.ndarray:
    """Binary-relevance NDCG@k of each user with a non-empty truth (in order)."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    values = []
    for row, t in zip(top, truth):
        if not t.size:
            continue
        gains = np.isin(np.asarray(row)[:k], t)
        ideal = discounts[: min(t.size, k)].sum()
        values.append(float((gains * discounts[: gains.size]).sum() / ideal))
    return np.asarray(values, np.float64)


def ndcg_at_k(top, truth: list[np.ndarray], k: int = 10) -> float:
    """Binary-relevance NDCG@k averaged over users with a non-empty truth."""
    values = ndcg_per_user(top, truth, k)
    return float(values.mean()) if values.size else float("nan")


def hit_rate_at_k(top, truth: list[np.ndarray], k: int = 10) -> float:
    """Share of users (with a non-empty truth) with at least one held-out item in the top k."""
    values = [bool(np.isin(np.asarray(row)[:k], t).any()) for row, t in zip(top, truth) if t.size]
    return float(np.mean(values)) if values else float("nan")


def ratio_ci(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict:
    """mean(a) / mean(b) over the same users (paired), with a 95% bootstrap interval
    (users resampled with replacement)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0 or a.size != b.size:
        return {"ratio": float("nan"), "ci95": [float("nan"), float("nan")]}
    idx = np.random.default_rng(seed).integers(0, a.size, (n_boot, a.size))
    ratios = a[idx].mean(1) / np.maximum(b[idx].mean(1), 1e-12)
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return {"ratio": round(float(a.mean() / max(b.mean(), 1e-12)), 4),
            "ci95": [round(float(lo), 4), round(float(hi), 4)]}
