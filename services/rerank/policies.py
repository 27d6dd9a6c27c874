"""Rerank policies: named compositions of rules and a selector, chosen per request.

A policy runs its rules in order (each sees what the previous kept), then selects `count`
items: by MMR when `mmr_lambda` is set, else in relevance order. When the rules left fewer
than `count` items and the policy says `backfill`, the best rule-removed items fill the
feed up (a short feed is worse than a second video of one author). Every input item ends up
either in the feed or in `removed` with a reason code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from services.common.errors import InvalidArgument
from services.rerank.candidates import Candidates
from services.rerank.mmr import mmr_select
from services.rerank.rules import CapPerAuthor, Rule

NOT_SELECTED = "NotSelected"
RULES = {"CapPerAuthor": CapPerAuthor}
DEFAULT_POLICIES = {
    "default": {"rules": [["CapPerAuthor", {"limit": 2}]], "mmr_lambda": 0.7, "backfill": True},
    "relevance": {"rules": [], "mmr_lambda": None},
    "diverse": {"rules": [["CapPerAuthor", {"limit": 1}]], "mmr_lambda": 0.4, "backfill": True},
}


@dataclass(frozen=True)
class RerankResult:
    order: np.ndarray                      # indices into the input, display order
    removed: list[tuple[int, str]] = field(default_factory=list)  # (input index, reason)


@dataclass(frozen=True)
class Policy:
    name: str
    rules: tuple[Rule, ...]
    mmr_lambda: float | None
    backfill: bool = False

    def apply(self, candidates: Candidates, count: int) -> RerankResult:
        alive = np.arange(len(candidates))
        removed: list[tuple[int, str]] = []
        for rule in self.rules:
            result = rule.apply(_subset(candidates, alive))
            removed += [(int(alive[i]), result.reason) for i in result.removed]
            alive = alive[result.kept]
        if self.mmr_lambda is None:
            picks = np.arange(min(count, alive.size))
        else:
            sub = _subset(candidates, alive)
            picks = mmr_select(sub.scores, sub.vectors, count, self.mmr_lambda)
        order = alive[picks]
        if self.backfill and order.size < count and removed:
            # Best-ranked rule removals first (input order is rank order).
            refill = sorted(removed)[: count - order.size]
            order = np.concatenate([order, np.array([i for i, _ in refill], dtype=np.int64)])
            removed = [r for r in removed if r not in refill]
        chosen = np.zeros(alive.size, dtype=bool)
        chosen[picks] = True
        removed += [(int(i), NOT_SELECTED) for i in alive[~chosen]]
        return RerankResult(order, removed)


def _subset(c: Candidates, idx: np.ndarray) -> Candidates:
    return Candidates(c.item_ids[idx], c.scores[idx], c.author_ids[idx], c.categories[idx],
                      c.vectors[idx])


def build_policies(spec_json: str = "") -> dict[str, Policy]:
    """Policies from a JSON spec (name -> {"rules": [[rule, kwargs]...], "mmr_lambda": x})."""
    spec = json.loads(spec_json) if spec_json else DEFAULT_POLICIES
    policies = {}
    for name, doc in spec.items():
        rules = []
        for rule_name, kwargs in doc.get("rules", []):
            if rule_name not in RULES:
                raise ValueError(f"RERANK_POLICIES: policy {name!r} names unknown rule {rule_name!r}")
            rules.append(RULES[rule_name](**kwargs))
        lam = doc.get("mmr_lambda")
        if lam is not None and not 0 <= lam <= 1:
            raise ValueError(f"RERANK_POLICIES: policy {name!r} mmr_lambda must be in [0, 1]")
        policies[name] = Policy(name, tuple(rules), lam, bool(doc.get("backfill", False)))
    if "default" not in policies:
        raise ValueError("RERANK_POLICIES: a policy named 'default' is required")
    return policies


def choose(policies: dict[str, Policy], name: str) -> Policy:
    policy = policies.get(name or "default")
    if policy is None:
        raise InvalidArgument("policy", f"unknown policy {name!r}; known: {', '.join(sorted(policies))}")
    return policy
