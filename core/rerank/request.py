"""One rerank request in plain values: the slot pools' items that are not candidates become
rows after the candidates, the session's categories and the catalog time become the
request's Operations, and the policy runs. The rerank service's servicer converts its proto
to these values and back; `bench/in_process.py` calls it directly (the same work without gRPC)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.rerank.candidates import ItemSide, Operations
from core.rerank.policies import Policy, RerankResult
from core.rerank.rules.boost_session_categories import session_categories


@dataclass(frozen=True)
class RerankOutput:
    item_ids: np.ndarray  # int64, every row: the candidates, then pool items that were not
    scores: np.ndarray    # float32, parallel (pool-only rows: 0)
    result: RerankResult  # rows of the above

    @property
    def feed_ids(self) -> np.ndarray:
        return self.item_ids[np.asarray(self.result.feed, dtype=np.int64)]


def rerank(side: ItemSide, policy: Policy, ids: np.ndarray, scores: np.ndarray, count: int, now_ms: int,
           blocked: np.ndarray | None = None, boosts: Mapping[int, float] | None = None,
           session_items: np.ndarray | None = None,
           pools: Mapping[str, Sequence[int]] | None = None) -> RerankOutput:
    """`ids`/`scores`: the candidates in rank order (distinct); `pools`: slot pool name -> item ids."""
    row_of = {int(i): r for r, i in enumerate(ids.tolist())} if pools else {}
    extra: list[int] = []
    pool_rows: dict[str, list[int]] = {}
    for name, items in (pools or {}).items():
        rows = []
        for item in items:
            item = int(item)
            if item not in row_of:
                row_of[item] = ids.size + len(extra)
                extra.append(item)
            rows.append(row_of[item])
        pool_rows[name] = rows
    if extra:
        ids = np.concatenate([ids, np.asarray(extra, dtype=np.int64)])
        scores = np.concatenate([scores, np.zeros(len(extra), np.float32)])
    candidates = side.candidates(ids, scores, n_input=ids.size - len(extra))
    session = side.categories_of(session_items) if session_items is not None and session_items.size else None
    ops = Operations(blocked if blocked is not None else np.zeros(0, np.int64), dict(boosts or {}), now_ms,
                     session_categories(session) if session is not None else {})
    return RerankOutput(ids, scores, policy.apply(candidates, count, ops, pool_rows))
