"""gRPC edge of the rank service."""
from __future__ import annotations

import numpy as np
from recsys.v1 import common_pb2, rank_pb2, rank_pb2_grpc

from core import metrics
from core.errors import InvalidArgument
from core.items import all_distinct
from core.rank import scoring
from core.rank.model_store import ModelSlot
from core.rank.online_items import OnlineItems
from core.store.clock import CatalogClock
from services.common.convert import context_from_proto, state_from_proto

RANKER, PRERANK = "ranker", "prerank"


def validate(request: rank_pb2.RankRequest, max_candidates: int) -> np.ndarray:
    if request.user.user_id < 1:
        raise InvalidArgument("user.user_id", f"must be >= 1, got {request.user.user_id}")
    n = len(request.item_ids)
    if not 1 <= n <= max_candidates:
        raise InvalidArgument("item_ids", f"must hold 1..{max_candidates} items, got {n}")
    if not 0 <= request.top_k <= max_candidates:
        raise InvalidArgument("top_k", f"must be 0..{max_candidates}, got {request.top_k}")
    if request.model.name not in ("", RANKER):
        raise InvalidArgument("model.name", f"pinning is for {RANKER!r}, got {request.model.name!r}")
    ids = np.asarray(request.item_ids, dtype=np.int64)
    if not all_distinct(ids):
        raise InvalidArgument("item_ids", "must be distinct")
    st = request.state
    n_watched = len(st.watched_items)
    for name in ("watched_ms", "watched_ts_ms"):
        if len(getattr(st, name)) != n_watched:
            raise InvalidArgument(f"state.{name}", f"must have one value per state.watched_items ({n_watched}), "
                                  f"got {len(getattr(st, name))}")
    if n_watched and min(st.watched_ms) < 0:
        raise InvalidArgument("state.watched_ms", "must be >= 0")
    return ids


class RankServicer(rank_pb2_grpc.RankServiceServicer):
    def __init__(self, ranker: ModelSlot, prerank: ModelSlot | None, clock: CatalogClock,
                 max_candidates: int = 2000, prerank_keep: int = 200, online: OnlineItems | None = None):
        self.ranker, self.prerank, self.clock = ranker, prerank, clock
        self.max_candidates, self.prerank_keep = max_candidates, prerank_keep
        self.online = online

    async def Rank(self, request: rank_pb2.RankRequest, context) -> rank_pb2.RankResponse:
        ids = validate(request, self.max_candidates)
        user_id = request.user.user_id
        # Each request holds its own references: a swap mid-request does not touch it.
        ranker = await self.ranker.get(user_id, request.model.version)
        prerank = self.prerank.route(user_id) if self.prerank is not None else None
        await self.clock.refresh()
        # Inline on the event loop: see the README (a worker-thread hand-off cost more than
        # the model's own run time).
        result = scoring.score(context_from_proto(request.user), state_from_proto(request.state), ids,
                               self.clock.now_ms(), ranker, prerank, self.prerank_keep, request.top_k,
                               self.online, self.clock.offset_ms)
        if result.unknown:
            metrics.MISSING_FEATURES.inc(result.unknown)
            metrics.FEATURE_DEFAULTS.labels("item").inc(result.unknown)
        u = request.user
        for feature, missing in (("hour", u.local_hour < 0), ("device", not u.device),
                                 ("user_region", not (u.region or request.state.region))):
            if missing:
                metrics.FEATURE_DEFAULTS.labels(feature).inc()
        models = [common_pb2.ModelRef(name=RANKER, version=ranker.version)]
        if result.prerank_ran:
            models.append(common_pb2.ModelRef(name=PRERANK, version=prerank.version))
        return rank_pb2.RankResponse(
            item_ids=result.item_ids.tolist(), scores=result.fused.tolist(),
            heads=list(ranker.heads), head_scores=result.heads.ravel().tolist(),
            model=models[0], models=models, unknown_items=result.unknown,
            prerank_kept=result.kept)
