"""Protobuf <-> plain dataclasses, at the edges only (servicers and clients)."""
from __future__ import annotations

import numpy as np
from recsys.v1 import common_pb2

from core.context import RequestContext
from core.store.user_state import UserStateData


def context_from_proto(msg: common_pb2.UserContext) -> RequestContext:
    return RequestContext(user_id=msg.user_id, region=msg.region, device=msg.device,
                          local_hour=msg.local_hour, experiment=msg.experiment,
                          request_id=msg.request_id)


def context_to_proto(ctx: RequestContext) -> common_pb2.UserContext:
    return common_pb2.UserContext(user_id=ctx.user_id, region=ctx.region, device=ctx.device,
                                  local_hour=ctx.local_hour, experiment=ctx.experiment,
                                  request_id=ctx.request_id)


def state_from_proto(msg: common_pb2.UserState) -> UserStateData:
    return UserStateData(
        known=msg.known,
        recent_items=np.asarray(msg.recent_items, dtype=np.int64),
        seen_items=np.asarray(msg.seen_items, dtype=np.int64),
        followed_authors=np.asarray(msg.followed_authors, dtype=np.int64),
        blocked_authors=np.asarray(msg.blocked_authors, dtype=np.int64),
        session_items=np.asarray(msg.session_items, dtype=np.int64),
        watched_items=np.asarray(msg.watched_items, dtype=np.int64),
        watched_ms=np.asarray(msg.watched_ms, dtype=np.int64),
        watched_ts_ms=np.asarray(msg.watched_ts_ms, dtype=np.int64),
        age_bucket=msg.age_bucket, gender=msg.gender, region=msg.region)


def state_to_proto(state: UserStateData, watched: bool = False) -> common_pb2.UserState:
    """`watched`: with the watched views (the rank stage reads them; recall does not)."""
    msg = common_pb2.UserState(
        known=state.known, recent_items=state.recent_items.tolist(),
        seen_items=state.seen_items.tolist(), followed_authors=state.followed_authors.tolist(),
        blocked_authors=state.blocked_authors.tolist(), session_items=state.session_items.tolist(),
        age_bucket=state.age_bucket, gender=state.gender, region=state.region)
    if watched and state.watched_items.size:
        msg.watched_items.extend(state.watched_items.tolist())
        msg.watched_ms.extend(state.watched_ms.tolist())
        msg.watched_ts_ms.extend(state.watched_ts_ms.tolist())
    return msg
