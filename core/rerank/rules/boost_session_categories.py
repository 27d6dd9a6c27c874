"""BoostSessionCategories: follow the interest of the moment. Candidates of a category the user
engaged with in the current session get their relevance (above 0, or above the lowest score
where some are negative: `multiply_relevance`) multiplied by
1 + strength * (that category's share of the session's engagements), so a session spent on
cooking videos brings more cooking forward at once — before any model is retrained, and
within the limits the spreading and diversity rules that run after it still enforce."""
from __future__ import annotations

import numpy as np

from core.rerank.candidates import Candidates, Operations
from core.rerank.rules.base import Booster, multiply_relevance


class BoostSessionCategories(Booster):
    name = "BoostSessionCategories"

    def __init__(self, strength: float = 1.0):
        if strength < 0:
            raise ValueError(f"BoostSessionCategories strength must be >= 0, got {strength}")
        self.strength = strength

    def adjust(self, scores: np.ndarray, candidates: Candidates, ops: Operations) -> np.ndarray:
        if not ops.session_categories or not self.strength:
            return scores
        share = np.array([ops.session_categories.get(int(c), 0.0) for c in candidates.categories],
                         dtype=np.float32)
        return multiply_relevance(scores, 1.0 + self.strength * share)


def session_categories(categories: np.ndarray) -> dict[int, float]:
    """Category -> share among the session's engaged items (unknown items, category 0, skipped)."""
    cats = np.asarray(categories, dtype=np.int64)
    cats = cats[cats > 0]
    if cats.size == 0:
        return {}
    uniq, counts = np.unique(cats, return_counts=True)
    return {int(c): float(n) / cats.size for c, n in zip(uniq, counts)}
