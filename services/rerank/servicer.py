"""gRPC edge of the rerank service: validate, build candidates, delegate to the policy."""
from __future__ import annotations

import math

import numpy as np
from recsys.v1 import rerank_pb2, rerank_pb2_grpc

from core.errors import InvalidArgument
from core.items import all_distinct
from core.rerank.candidates import ChangeKind, ItemSide
from core.rerank.policies import Policy, choose
from core.rerank.request import rerank
from core.store.clock import CatalogClock
from core.versioned import Versioned

MAX_CANDIDATES = 2000
MAX_COUNT = 100
MAX_BLOCKED = 1000
MAX_POOLS = 8
MAX_POOL_ITEMS = 100
MAX_POOL_NAME = 32
_KINDS = {ChangeKind.MOVED: rerank_pb2.RerankChange.KIND_MOVED,
          ChangeKind.INSERTED: rerank_pb2.RerankChange.KIND_INSERTED}


def validate(request: rerank_pb2.RerankRequest) -> tuple[np.ndarray, np.ndarray]:
    n = len(request.item_ids)
    if not 1 <= n <= MAX_CANDIDATES:
        raise InvalidArgument("item_ids", f"must hold 1..{MAX_CANDIDATES} items, got {n}")
    if len(request.scores) != n:
        raise InvalidArgument("scores", f"must be parallel to item_ids ({n}), got {len(request.scores)}")
    if not 1 <= request.count <= MAX_COUNT:
        raise InvalidArgument("count", f"must be 1..{MAX_COUNT}, got {request.count}")
    ids = np.asarray(request.item_ids, dtype=np.int64)
    if not all_distinct(ids):
        raise InvalidArgument("item_ids", "must be distinct")
    scores = np.asarray(request.scores, dtype=np.float32)
    if not np.all(np.isfinite(scores)):
        raise InvalidArgument("scores", "must be finite numbers")
    if len(request.blocked_item_ids) > MAX_BLOCKED:
        raise InvalidArgument("blocked_item_ids", f"at most {MAX_BLOCKED} items")
    for item, factor in request.boosts.items():
        if not (math.isfinite(factor) and factor > 0):
            raise InvalidArgument(f"boosts[{item}]", f"factor must be a finite number > 0, got {factor}")
    if len(request.pools) > MAX_POOLS:
        raise InvalidArgument("pools", f"at most {MAX_POOLS} pools")
    names = set()
    for i, pool in enumerate(request.pools):
        if not 1 <= len(pool.name) <= MAX_POOL_NAME or pool.name in names:
            raise InvalidArgument(f"pools[{i}].name", f"must be 1..{MAX_POOL_NAME} characters and unique")
        names.add(pool.name)
        if len(pool.item_ids) > MAX_POOL_ITEMS:
            raise InvalidArgument(f"pools[{i}].item_ids", f"at most {MAX_POOL_ITEMS} items")
    return ids, scores


class RerankServicer(rerank_pb2_grpc.RerankServiceServicer):
    def __init__(self, policies: dict[str, Policy], item_side: Versioned[ItemSide], clock: CatalogClock,
                 by_experiment: dict[str, str] | None = None):
        self.policies, self.item_side, self.clock = policies, item_side, clock
        self.by_experiment = by_experiment or {}

    async def Rerank(self, request: rerank_pb2.RerankRequest, context) -> rerank_pb2.RerankResponse:
        ids, scores = validate(request)
        policy = choose(self.policies, request.policy, request.user.experiment, self.by_experiment)
        await self.clock.refresh()
        out = rerank(self.item_side.value, policy, ids, scores, request.count, self.clock.now_ms(),
                     np.asarray(request.blocked_item_ids, np.int64), request.boosts,
                     np.asarray(request.state.session_items, np.int64),
                     {pool.name: pool.item_ids for pool in request.pools})
        result, all_ids = out.result, out.item_ids
        feed = np.asarray(result.feed, dtype=np.int64)
        return rerank_pb2.RerankResponse(
            item_ids=all_ids[feed].tolist(), scores=out.scores[feed].tolist(), policy=policy.name,
            removed_item_ids=ids[result.removed_rows].tolist(), removed_reasons=result.removed_reasons,
            changes=[rerank_pb2.RerankChange(item_id=int(all_ids[ch.row]), kind=_KINDS[ch.kind],
                                             reason=ch.reason, from_position=ch.from_position,
                                             to_position=ch.to_position) for ch in result.changes])
