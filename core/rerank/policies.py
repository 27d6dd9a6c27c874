"""Rerank policies: named compositions of rules and a selector, chosen per request.

A policy runs: filters (each sees what the previous kept) -> boosters -> the selector picks
`count` -> backfill from soft-filter removals if the feed is short -> arrangers -> slot
inserters. Every input item ends up in the feed or among the removed rows with the reason;
feed items a rule placed away from their relevance order get a MOVED change, pool items an
INSERTED one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from core.errors import InvalidArgument
from core.rerank.candidates import Candidates, Change, ChangeKind, Operations
from core.rerank.rules import RULES, Arranger, Booster, Filter, Inserter
from core.rerank.selectors import Selector, build_selector

NOT_SELECTED = "NotSelected"
DEFAULT_POLICIES = {
    "default": {
        "rules": [["DropBlockedItems", {}], ["DropNearDuplicates", {"threshold": 0.97}],
                  ["CapPerAuthor", {"limit": 2}], ["BoostItems", {"max_boost": 2.0}],
                  ["BoostSessionCategories", {"strength": 1.0}],
                  ["SpreadCategories", {"max_per_window": 2, "window": 4, "strict": False}],
                  ["InsertOperationSlots", {"positions": [2], "pool": "operations"}]],
        "selector": {"kind": "mmr", "lambda": 0.8}, "backfill": True},
    "dpp": {
        "rules": [["DropBlockedItems", {}], ["DropNearDuplicates", {"threshold": 0.97}],
                  ["CapPerAuthor", {"limit": 2}], ["BoostItems", {"max_boost": 2.0}],
                  ["BoostSessionCategories", {"strength": 1.0}],
                  ["InsertOperationSlots", {"positions": [2], "pool": "operations"}]],
        "selector": {"kind": "dpp", "theta": 0.7}, "backfill": True},
    "relevance": {"rules": [["DropBlockedItems", {}]], "selector": {"kind": "relevance"}},
    "diverse": {
        "rules": [["DropBlockedItems", {}], ["DropNearDuplicates", {"threshold": 0.95}],
                  ["CapPerAuthor", {"limit": 1}],
                  ["SpreadCategories", {"max_per_window": 1, "window": 3}]],
        "selector": {"kind": "mmr", "lambda": 0.4}, "backfill": True},
    "explore": {
        "rules": [["DropBlockedItems", {}], ["CapPerAuthor", {"limit": 2}],
                  ["InsertFreshSlots", {"positions": [3, 9], "max_age_h": 48}]],
        "selector": {"kind": "mmr", "lambda": 0.7}, "backfill": True},
}


@dataclass(frozen=True)
class RerankResult:
    feed: list[int]                 # rows of the Candidates, display order
    removed_rows: np.ndarray        # int64, input rows not in the feed, input order
    removed_reasons: list[str]      # parallel to removed_rows
    changes: list[Change] = field(default_factory=list)  # moved / inserted feed items


@dataclass(frozen=True)
class Policy:
    name: str
    filters: tuple[Filter, ...] = ()
    boosters: tuple[Booster, ...] = ()
    selector: Selector = field(default_factory=lambda: build_selector(None))
    arrangers: tuple[Arranger, ...] = ()
    inserters: tuple[Inserter, ...] = ()
    backfill: bool = False

    def apply(self, c: Candidates, count: int, ops: Operations | None = None,
              pools: dict[str, list[int]] | None = None) -> RerankResult:
        ops, pools = ops or Operations(), pools or {}
        removed: dict[int, str] = {}
        soft_removed: list[int] = []
        alive = np.arange(c.n_input)
        for f in self.filters:
            keep = f.keep_mask(c.subset(alive), ops)
            for row in alive[~keep]:
                removed[int(row)] = f.name
            if f.soft:
                soft_removed += alive[~keep].tolist()
            alive = alive[keep]

        scores = c.scores.astype(np.float64)
        moved: dict[int, str] = {}
        for b in self.boosters:
            boosted = b.adjust(scores[alive], c.subset(alive), ops)
            before = np.argsort(-scores[alive], kind="stable")
            after = np.argsort(-boosted, kind="stable")
            for pos in np.flatnonzero(before != after):
                if boosted[after[pos]] != scores[alive][after[pos]]:
                    moved[int(alive[after[pos]])] = b.name
            scores[alive] = boosted

        picks = self.selector.select(scores[alive], c.vectors[alive], count)
        feed = alive[picks].tolist()
        by_score = alive[np.argsort(-scores[alive], kind="stable")].tolist()
        for pos, row in enumerate(feed):
            if by_score[pos] != row:
                moved.setdefault(row, self.selector.name)
        if self.backfill and len(feed) < count:
            refill = sorted(soft_removed)[: count - len(feed)]  # best-ranked first
            feed += refill
            for row in refill:
                removed.pop(row, None)
        in_feed = set(feed)
        spare = [r for r in by_score if r not in in_feed]

        for a in self.arrangers:
            arr = a.arrange(feed, spare, c)
            for row in arr.dropped:
                removed[row] = a.name
            for row in arr.placed:
                moved[row] = a.name
                removed.pop(row, None)
            feed = arr.feed
            in_feed = set(feed)
            spare = [r for r in spare if r not in in_feed]

        inserted: dict[int, str] = {}
        blocked = set()
        for f in self.filters:
            if hasattr(f, "blocked"):
                blocked |= set(f.blocked(ops).tolist())
        for ins in self.inserters:
            candidates_rows = [r for r in ins.pool_rows(c, ops, pools)
                               if int(c.item_ids[r]) not in blocked]
            for pos in ins.positions:
                if pos >= count:
                    break
                row = next((r for r in candidates_rows if r not in in_feed), None)
                if row is None:
                    break
                feed.insert(min(pos, len(feed)), row)
                in_feed.add(row)
                inserted[row] = ins.name
                removed.pop(row, None)
                moved.pop(row, None)
                if len(feed) > count:
                    out = feed.pop()
                    in_feed.discard(out)
                    inserted.pop(out, None)
                    if out < c.n_input:
                        removed[out] = ins.name
        in_feed = np.zeros(c.n_input, dtype=bool)
        in_feed[[r for r in feed if r < c.n_input]] = True
        removed_rows = np.flatnonzero(~in_feed)
        reasons = [removed.get(row, NOT_SELECTED) for row in removed_rows.tolist()]
        return RerankResult(feed, removed_rows, reasons, self._changes(c, feed, moved, inserted))

    @staticmethod
    def _changes(c, feed, moved, inserted) -> list[Change]:
        changes = []
        for pos, row in enumerate(feed, 1):
            src = row + 1 if row < c.n_input else 0
            if row in inserted:
                changes.append(Change(row, ChangeKind.INSERTED, inserted[row], src, pos))
            elif row in moved:
                changes.append(Change(row, ChangeKind.MOVED, moved[row], src, pos))
        return changes


def _build_policy(name: str, doc: dict) -> Policy:
    stages: dict[type, list] = {Filter: [], Booster: [], Arranger: [], Inserter: []}
    for rule_name, kwargs in doc.get("rules", []):
        if rule_name not in RULES:
            raise ValueError(f"RERANK_POLICIES: policy {name!r} names unknown rule {rule_name!r}; "
                             f"known: {', '.join(sorted(RULES))}")
        rule = RULES[rule_name](**kwargs)
        next(v for k, v in stages.items() if isinstance(rule, k)).append(rule)
    try:
        selector = build_selector(doc.get("selector"))
    except ValueError as err:
        raise ValueError(f"RERANK_POLICIES: policy {name!r}: {err}") from None
    return Policy(name, tuple(stages[Filter]), tuple(stages[Booster]), selector,
                  tuple(stages[Arranger]), tuple(stages[Inserter]), bool(doc.get("backfill", False)))


def build_policies(spec_json: str = "") -> dict[str, Policy]:
    """Policies from JSON: name -> {"rules": [[rule, kwargs], ...], "selector": {...}, "backfill": bool}."""
    spec = json.loads(spec_json) if spec_json else DEFAULT_POLICIES
    policies = {name: _build_policy(name, doc) for name, doc in spec.items()}
    if "default" not in policies:
        raise ValueError("RERANK_POLICIES: a policy named 'default' is required")
    return policies


def choose(policies: dict[str, Policy], name: str, experiment: str = "",
           by_experiment: dict[str, str] | None = None) -> Policy:
    """The request's policy; else the experiment's; else "default"."""
    if not name and experiment and by_experiment:
        name = by_experiment.get(experiment, "")
    policy = policies.get(name or "default")
    if policy is None:
        raise InvalidArgument("policy", f"unknown policy {name!r}; known: {', '.join(sorted(policies))}")
    return policy
