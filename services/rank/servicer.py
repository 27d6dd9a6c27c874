"""gRPC edge of the rank service."""
from __future__ import annotations

import asyncio

import numpy as np
from recsys.v1 import common_pb2, rank_pb2, rank_pb2_grpc

from services.common import metrics
from services.common.clock import CatalogClock
from services.common.convert import context_from_proto, state_from_proto
from services.common.errors import InvalidArgument
from services.rank.model_store import MODEL_NAME, RankerStore


def validate(request: rank_pb2.RankRequest, max_candidates: int) -> np.ndarray:
    if request.user.user_id < 1:
        raise InvalidArgument("user.user_id", f"must be >= 1, got {request.user.user_id}")
    n = len(request.item_ids)
    if not 1 <= n <= max_candidates:
        raise InvalidArgument("item_ids", f"must hold 1..{max_candidates} items, got {n}")
    if not 0 <= request.top_k <= max_candidates:
        raise InvalidArgument("top_k", f"must be 0..{max_candidates}, got {request.top_k}")
    if request.model.name not in ("", MODEL_NAME):
        raise InvalidArgument("model.name", f"this service serves {MODEL_NAME!r}")
    ids = np.asarray(request.item_ids, dtype=np.int64)
    if np.unique(ids).size != ids.size:
        raise InvalidArgument("item_ids", "must be distinct")
    return ids


class RankServicer(rank_pb2_grpc.RankServiceServicer):
    def __init__(self, store: RankerStore, clock: CatalogClock, max_candidates: int = 2000):
        self.store, self.clock, self.max_candidates = store, clock, max_candidates

    async def Rank(self, request: rank_pb2.RankRequest, context) -> rank_pb2.RankResponse:
        ids = validate(request, self.max_candidates)
        ranker = await self.store.get(request.model.version)
        await self.clock.refresh()
        scores = await asyncio.to_thread(ranker.score, context_from_proto(request.user),
                                         state_from_proto(request.state), ids,
                                         self.clock.now_ms())
        if scores.unknown:
            metrics.MISSING_FEATURES.inc(scores.unknown)
        order = np.argsort(-scores.fused, kind="stable")
        if request.top_k:
            order = order[: request.top_k]
        return rank_pb2.RankResponse(
            item_ids=ids[order].tolist(), scores=scores.fused[order].tolist(),
            heads=list(ranker.heads), head_scores=scores.heads[order].ravel().tolist(),
            model=common_pb2.ModelRef(name=MODEL_NAME, version=ranker.version),
            unknown_items=scores.unknown)
