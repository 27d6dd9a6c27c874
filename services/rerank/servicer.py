"""gRPC edge of the rerank service."""
from __future__ import annotations

import numpy as np
from recsys.v1 import rerank_pb2, rerank_pb2_grpc

from services.common.errors import InvalidArgument
from services.common.items import ItemTable
from services.rerank.candidates import Candidates
from services.rerank.policies import Policy, choose

MAX_CANDIDATES = 2000
MAX_COUNT = 100


class ItemSide:
    """Authors, categories and embeddings of the catalog, indexed by dense item index."""

    def __init__(self, items: ItemTable, vectors: np.ndarray):
        self.items = items
        self.vectors = np.vstack([vectors.astype(np.float32),
                                  np.zeros((1, vectors.shape[1]), np.float32)])  # row -1: unknown

    def candidates(self, ids: np.ndarray, scores: np.ndarray) -> Candidates:
        idx = self.items.index_of(ids)
        known = idx >= 0
        safe = np.where(known, idx, 0)
        return Candidates(ids, scores, np.where(known, self.items.author_id[safe], 0),
                          np.where(known, self.items.category[safe], 0), self.vectors[idx])


def validate(request: rerank_pb2.RerankRequest) -> tuple[np.ndarray, np.ndarray]:
    n = len(request.item_ids)
    if not 1 <= n <= MAX_CANDIDATES:
        raise InvalidArgument("item_ids", f"must hold 1..{MAX_CANDIDATES} items, got {n}")
    if len(request.scores) != n:
        raise InvalidArgument("scores", f"must be parallel to item_ids ({n}), got {len(request.scores)}")
    if not 1 <= request.count <= MAX_COUNT:
        raise InvalidArgument("count", f"must be 1..{MAX_COUNT}, got {request.count}")
    ids = np.asarray(request.item_ids, dtype=np.int64)
    if np.unique(ids).size != n:
        raise InvalidArgument("item_ids", "must be distinct")
    scores = np.asarray(request.scores, dtype=np.float32)
    if not np.all(np.isfinite(scores)):
        raise InvalidArgument("scores", "must be finite numbers")
    return ids, scores


class RerankServicer(rerank_pb2_grpc.RerankServiceServicer):
    def __init__(self, policies: dict[str, Policy], item_side: ItemSide):
        self.policies, self.item_side = policies, item_side

    async def Rerank(self, request: rerank_pb2.RerankRequest, context) -> rerank_pb2.RerankResponse:
        ids, scores = validate(request)
        policy = choose(self.policies, request.policy)
        result = policy.apply(self.item_side.candidates(ids, scores), request.count)
        removed_idx = np.array([i for i, _ in result.removed], dtype=np.int64)
        return rerank_pb2.RerankResponse(
            item_ids=ids[result.order].tolist(), scores=scores[result.order].tolist(),
            removed_item_ids=ids[removed_idx].tolist() if removed_idx.size else [],
            removed_reasons=[r for _, r in result.removed], policy=policy.name)
