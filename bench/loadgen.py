"""A load generator for the gateway on grpc.aio: closed loop (N concurrent users, each sending
its next request when the last answered) and open loop (requests at a fixed rate, whatever the
answers' pace), bounded in requests and time, loopback addresses only.

Users are drawn from the world with realistic skew (by their number of logged impressions,
so heavy users come back more often). With `event_share` > 0 a request is followed by a
`ReportEvents` batch about the feed it got (a view of each of the first items, a like now and
then), every event with a unique id; the ids the gateway acknowledged are kept, so a chaos run
can read them back from Redis and count what was lost.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import grpc
import numpy as np
from recsys.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc

from bench.measure import pct
from dev.net import check_loopback


@dataclass
class LoadResult:
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # successful Recommend calls
    codes: Counter = field(default_factory=Counter)          # Recommend status codes by name
    degraded: int = 0                                        # OK answers with a degraded flag
    stage_ms: dict[str, list[float]] = field(default_factory=dict)
    events_sent: int = 0
    events_acked: list[str] = field(default_factory=list)
    event_codes: Counter = field(default_factory=Counter)
    last_clean_at: float = 0.0                               # monotonic time of the last non-degraded OK

    @property
    def sent(self) -> int:
        return sum(self.codes.values())

    @property
    def ok(self) -> int:
        return self.codes.get("OK", 0)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return pct(self.latencies_ms, q)

    def summary(self) -> dict:
        return {"sent": self.sent, "ok": self.ok, "errors_by_code": {c: n for c, n in self.codes.items() if c != "OK"},
                "degraded": self.degraded, "p50_ms": self.pct(50), "p95_ms": self.pct(95), "p99_ms": self.pct(99),
                "rps": round(self.rps, 1), "seconds": round(self.seconds, 2),
                "stages_p50_ms": {s: round(float(np.percentile(v, 50)), 3) for s, v in sorted(self.stage_ms.items())},
                "stages_p99_ms": {s: round(float(np.percentile(v, 99)), 3) for s, v in sorted(self.stage_ms.items())}}


class LoadGen:
    def __init__(self, address: str, user_ids: np.ndarray, weights: np.ndarray | None = None, count: int = 20,
                 api_key: str = "", event_share: float = 0.0, timeout_s: float = 2.0, seed: int = 0):
        self.address = check_loopback(address)
        self.user_ids = np.asarray(user_ids, dtype=np.int64)
        w = np.ones(self.user_ids.size) if weights is None else np.asarray(weights, dtype=np.float64)
        self.p = w / w.sum()
        self.count, self.event_share, self.timeout_s = count, event_share, timeout_s
        self.metadata = [("x-api-key", api_key)] if api_key else None
        self.rng = np.random.default_rng(seed)
        self.run_id = uuid.uuid4().hex[:8]
        self._n = 0

    @classmethod
    def from_world(cls, address: str, world, **kw) -> LoadGen:
        users, counts = np.unique(world.impressions["user_id"], return_counts=True)
        return cls(address, users, counts, **kw)

    def _user(self) -> int:
        return int(self.rng.choice(self.user_ids, p=self.p))

    async def one(self, stub, out: LoadResult) -> None:
        user = self._user()
        start = time.perf_counter()
        try:
            reply = await stub.Recommend(gateway_pb2.RecommendRequest(user_id=user, count=self.count),
                                         timeout=self.timeout_s, metadata=self.metadata)
        except grpc.RpcError as err:
            out.codes[err.code().name] += 1
            return
        out.latencies_ms.append((time.perf_counter() - start) * 1000)
        out.codes["OK"] += 1
        if reply.degraded:
            out.degraded += 1
        else:
            out.last_clean_at = time.monotonic()
        for s in reply.latencies:
            out.stage_ms.setdefault(s.stage, []).append(s.ms)
        if self.event_share and reply.items and self.rng.random() < self.event_share:
            await self._events(stub, user, [i.item_id for i in reply.items[:3]], out)

    async def _events(self, stub, user: int, items: list[int], out: LoadResult) -> None:
        events = []
        for item in items:
            self._n += 1
            kind = common_pb2.EVENT_TYPE_LIKE if self.rng.random() < 0.1 else common_pb2.EVENT_TYPE_VIEW
            events.append(common_pb2.Event(event_id=f"load-{self.run_id}-{self._n}", user_id=user, item_id=item,
                                           type=kind, watch_ms=8000 if kind == common_pb2.EVENT_TYPE_VIEW else 0))
        out.events_sent += len(events)
        try:
            await stub.ReportEvents(gateway_pb2.ReportEventsRequest(events=events), timeout=self.timeout_s,
                                    metadata=self.metadata)
        except grpc.RpcError as err:
            out.event_codes[err.code().name] += 1
            return
        out.event_codes["OK"] += 1
        out.events_acked += [e.event_id for e in events]

    async def closed(self, concurrency: int, seconds: float, max_requests: int = 1_000_000,
                     out: LoadResult | None = None) -> LoadResult:
        out = out or LoadResult()
        deadline = time.monotonic() + seconds
        sent = 0
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = gateway_pb2_grpc.GatewayServiceStub(channel)

            async def worker():
                nonlocal sent
                while time.monotonic() < deadline and sent < max_requests:
                    sent += 1
                    await self.one(stub, out)
            start = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            out.seconds += time.monotonic() - start
        return out

    async def open(self, rate: float, seconds: float, max_inflight: int = 2000,
                   out: LoadResult | None = None) -> LoadResult:
        out = out or LoadResult()
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = gateway_pb2_grpc.GatewayServiceStub(channel)
            tasks: set[asyncio.Task] = set()
            start = time.monotonic()
            for k in range(int(rate * seconds)):
                delay = start + k / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if len(tasks) >= max_inflight:  # the generator's own bound, counted as a client-side drop
                    out.codes["CLIENT_INFLIGHT_LIMIT"] += 1
                    continue
                task = asyncio.create_task(self.one(stub, out))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
            out.seconds += time.monotonic() - start
        return out
