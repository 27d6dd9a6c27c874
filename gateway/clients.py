"""Clients of the internal stages: gRPC in, plain dataclasses out.

Channels use client-side round-robin over every address the target resolves to (gRPC pins
one connection otherwise) and retry once on UNAVAILABLE: every internal call is a read,
so a retry is safe.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import grpc
import numpy as np
from recsys.v1 import (
    common_pb2,
    rank_pb2,
    rank_pb2_grpc,
    recall_pb2,
    recall_pb2_grpc,
    rerank_pb2,
    rerank_pb2_grpc,
)

from core.context import RequestContext
from core.rerank.campaigns import POOL as OPERATIONS_POOL
from core.store.user_state import UserStateData
from services.common.convert import context_to_proto, state_to_proto

SERVICE_CONFIG = json.dumps({
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{
        "name": [{"service": "recsys.v1.RecallService"}, {"service": "recsys.v1.RankService"},
                 {"service": "recsys.v1.RerankService"}],
        "retryPolicy": {"maxAttempts": 2, "initialBackoff": "0.005s", "maxBackoff": "0.02s",
                        "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
    }],
})


def open_channel(address: str, credentials: grpc.ChannelCredentials | None = None) -> grpc.aio.Channel:
    """A channel to a stage: TLS with `credentials` (services/common/tls.py), else plaintext."""
    options = [
        ("grpc.service_config", SERVICE_CONFIG),
        ("grpc.enable_retries", 1),
        ("grpc.max_receive_message_length", 16 * 1024 * 1024),
        ("grpc.keepalive_time_ms", 30_000),
        # Reconnect quickly after a downstream restarts (the default starts at 1 s).
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=options)
    return grpc.aio.secure_channel(address, credentials, options=options)


@dataclass(frozen=True)
class Recalled:
    item_ids: np.ndarray
    scores: np.ndarray
    channel_mask: np.ndarray
    channels: list[str]
    stats: list  # recall_pb2.ChannelStat, passed through to debug output

    def channel_names(self, row: int) -> list[str]:
        mask = int(self.channel_mask[row])
        return [name for bit, name in enumerate(self.channels) if mask >> bit & 1]


@dataclass(frozen=True)
class Ranked:
    item_ids: np.ndarray
    scores: np.ndarray
    heads: list[str]
    head_scores: np.ndarray  # [n, len(heads)]
    version: str
    models: list[tuple[str, str]]  # every (name, version) that served, pre-rank included


@dataclass(frozen=True)
class Reranked:
    item_ids: np.ndarray
    scores: np.ndarray
    policy: str
    reasons: dict[int, str]  # item id -> "moved:<rule>" / "inserted:<rule>"
    removed: dict[int, str]  # item id -> the rule that removed it


def recall_request(ctx: RequestContext, state: UserStateData, limit: int,
                   quotas: dict[str, int] | None = None) -> recall_pb2.RetrieveRequest:
    return recall_pb2.RetrieveRequest(
        user=context_to_proto(ctx), state=state_to_proto(state), limit=limit,
        quotas=[recall_pb2.ChannelQuota(channel=c, quota=q) for c, q in (quotas or {}).items()])


def rank_request(ctx: RequestContext, state: UserStateData, item_ids: np.ndarray, top_k: int,
                 version: str = "") -> rank_pb2.RankRequest:
    return rank_pb2.RankRequest(
        user=context_to_proto(ctx), state=state_to_proto(state, watched=True), item_ids=item_ids.tolist(),
        top_k=top_k, model=common_pb2.ModelRef(name="ranker", version=version) if version else None)


def rerank_request(ctx: RequestContext, item_ids: np.ndarray, scores: np.ndarray, count: int, policy: str,
                   state: UserStateData | None = None, boosts: dict[int, float] | None = None,
                   operations: list[int] | None = None) -> rerank_pb2.RerankRequest:
    return rerank_pb2.RerankRequest(
        user=context_to_proto(ctx), item_ids=item_ids.tolist(), scores=scores.tolist(),
        policy=policy, count=count,
        # rerank reads the session only: the rest of the state (the seen set) is not sent
        state=common_pb2.UserState(session_items=state.session_items.tolist()) if state is not None else None,
        boosts=boosts or {},
        pools=[rerank_pb2.SlotPool(name=OPERATIONS_POOL, item_ids=operations)] if operations else [])


class StageClients:
    def __init__(self, recall_addr: str, rank_addr: str, rerank_addr: str,
                 credentials: grpc.ChannelCredentials | None = None):
        self.addresses = [recall_addr, rank_addr, rerank_addr]
        self._channels = [open_channel(a, credentials) for a in self.addresses]
        self.recall_stub = recall_pb2_grpc.RecallServiceStub(self._channels[0])
        self.rank_stub = rank_pb2_grpc.RankServiceStub(self._channels[1])
        self.rerank_stub = rerank_pb2_grpc.RerankServiceStub(self._channels[2])

    async def connect(self, timeout_s: float) -> list[str]:
        """Open the connections now, so the first request pays no handshake; returns the
        addresses not reachable yet (they are retried lazily, per request)."""
        async def ready(ch: grpc.aio.Channel) -> bool:
            try:
                await asyncio.wait_for(ch.channel_ready(), timeout_s)
                return True
            except TimeoutError:
                return False
        results = await asyncio.gather(*(ready(ch) for ch in self._channels))
        return [a for a, ok in zip(self.addresses, results) if not ok]

    async def close(self) -> None:
        for ch in self._channels:
            await ch.close()

    async def recall(self, ctx: RequestContext, state: UserStateData, limit: int,
                     timeout: float, quotas: dict[str, int] | None = None) -> Recalled:
        r = await self.recall_stub.Retrieve(recall_request(ctx, state, limit, quotas), timeout=timeout)
        return Recalled(np.asarray(r.item_ids, np.int64), np.asarray(r.scores, np.float32),
                        np.asarray(r.channel_mask, np.uint32), list(r.channels), list(r.channel_stats))

    async def rank(self, ctx: RequestContext, state: UserStateData, item_ids: np.ndarray,
                   top_k: int, timeout: float, version: str = "") -> Ranked:
        r = await self.rank_stub.Rank(rank_request(ctx, state, item_ids, top_k, version), timeout=timeout)
        n, h = len(r.item_ids), len(r.heads)
        return Ranked(np.asarray(r.item_ids, np.int64), np.asarray(r.scores, np.float32),
                      list(r.heads), np.asarray(r.head_scores, np.float32).reshape(n, h),
                      r.model.version, [(m.name, m.version) for m in r.models])

    async def rerank(self, ctx: RequestContext, item_ids: np.ndarray, scores: np.ndarray,
                     count: int, policy: str, timeout: float, state: UserStateData | None = None,
                     boosts: dict[int, float] | None = None, operations: list[int] | None = None) -> Reranked:
        """`boosts` and `operations` (the operations slot pool) come from campaigns."""
        r = await self.rerank_stub.Rerank(rerank_request(ctx, item_ids, scores, count, policy, state, boosts,
                                                         operations), timeout=timeout)
        kinds = {rerank_pb2.RerankChange.KIND_MOVED: "moved",
                 rerank_pb2.RerankChange.KIND_INSERTED: "inserted"}
        reasons = {c.item_id: f"{kinds[c.kind]}:{c.reason}" for c in r.changes if c.kind in kinds}
        return Reranked(np.asarray(r.item_ids, np.int64), np.asarray(r.scores, np.float32),
                        r.policy, reasons, dict(zip(r.removed_item_ids, r.removed_reasons)))
