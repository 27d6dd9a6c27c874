"""The impression log: what every Recommend showed, to whom, why, and which versions served it.

Together with the events stream this is the training data and the A/B record: the exporter
(training/loop/exporter.py) copies both streams to Parquet, the dataset job joins impressions
with the events that followed them, and the canary gate compares arms by the versions each
impression names.

One stream entry per Recommend (not per item: one XADD keeps the cost per request flat),
items as packed parallel columns of comma-separated values:

    request_id, user_id, ts_ms (wall clock), experiment, models ("name:version,...")
    region, device, hour, age_bucket, gender     the request's user-side features as served
    degraded                                     "a,b" (what degraded), "" when nothing did
    items, recall_pos, rank_pos, follows         per item (position 1-based, 0 = not reached)
    channels                                     per item "two_tower|hot", items joined by ";"
    recall_scores, rank_scores                   per item, "" where the stage did not score it
    heads, head_scores                           head names; per item per head, row-major
    latency_ms                                   the gateway's time for the request

The write happens off the response path: `record` schedules it and returns; a failed or
refused write is counted (recsys_impressions_total{outcome}) and never fails a request.
Pending writes are bounded so a slow Redis costs memory no faster than it drops entries.
"""
from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core import metrics
from core.store import keys as K
from core.store.keys import Keys

log = logging.getLogger(__name__)
MAX_PENDING = 256


@dataclass(frozen=True)
class Impression:
    """One served feed."""

    request_id: str
    user_id: int
    ts_ms: int
    item_ids: list[int]
    experiment: str = ""
    models: dict[str, str] = field(default_factory=dict)
    region: int = 0
    device: int = 0
    hour: int = -1
    age_bucket: int = 0
    gender: int = 0
    degraded: list[str] = field(default_factory=list)
    recall_pos: list[int] = field(default_factory=list)
    rank_pos: list[int] = field(default_factory=list)
    follows: list[int] = field(default_factory=list)
    channels: list[list[str]] = field(default_factory=list)
    recall_scores: list[float | None] = field(default_factory=list)
    rank_scores: list[float | None] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)
    head_scores: list[list[float]] = field(default_factory=list)  # [item][head]
    latency_ms: float = 0.0  # the gateway's time for the whole request (a guardrail per arm)


def _ints(values) -> str:
    return ",".join(str(int(v)) for v in values)


def _floats(values) -> str:
    return ",".join("" if v is None or not math.isfinite(v) else f"{v:.6g}" for v in values)


def encode(imp: Impression) -> dict[str, str]:
    """Stream fields of one impression (strings only: what XADD stores)."""
    return {
        "request_id": imp.request_id, "user_id": str(int(imp.user_id)), "ts_ms": str(int(imp.ts_ms)),
        "experiment": imp.experiment, "models": ",".join(f"{n}:{v}" for n, v in sorted(imp.models.items())),
        "region": str(imp.region), "device": str(imp.device), "hour": str(imp.hour),
        "age_bucket": str(imp.age_bucket), "gender": str(imp.gender), "degraded": ",".join(imp.degraded),
        "items": _ints(imp.item_ids), "recall_pos": _ints(imp.recall_pos), "rank_pos": _ints(imp.rank_pos),
        "follows": _ints(imp.follows), "channels": ";".join("|".join(c) for c in imp.channels),
        "recall_scores": _floats(imp.recall_scores), "rank_scores": _floats(imp.rank_scores),
        "heads": ",".join(imp.heads), "head_scores": _floats(s for row in imp.head_scores for s in row),
        "latency_ms": f"{imp.latency_ms:.3f}",
    }


def _text(fields: dict, name: str) -> str:
    value = fields.get(name.encode(), fields.get(name, b""))
    return value.decode() if isinstance(value, bytes) else str(value)


def _split(text: str, sep: str = ",") -> list[str]:
    return text.split(sep) if text else []


def _float_or_none(text: str) -> float | None:
    return float(text) if text else None


def decode(fields: dict) -> Impression:
    """The impression of one stream entry (bytes or str keys, as redis-py returns them)."""
    t = lambda name: _text(fields, name)  # noqa: E731
    items = [int(x) for x in _split(t("items"))]
    heads = _split(t("heads"))
    flat = [_float_or_none(x) for x in _split(t("head_scores"))]
    n_heads = len(heads)
    return Impression(
        request_id=t("request_id"), user_id=int(t("user_id")), ts_ms=int(t("ts_ms")), item_ids=items,
        experiment=t("experiment"), models=dict(m.split(":", 1) for m in _split(t("models"))),
        region=int(t("region") or 0), device=int(t("device") or 0), hour=int(t("hour") or -1),
        age_bucket=int(t("age_bucket") or 0), gender=int(t("gender") or 0), degraded=_split(t("degraded")),
        recall_pos=[int(x) for x in _split(t("recall_pos"))], rank_pos=[int(x) for x in _split(t("rank_pos"))],
        follows=[int(x) for x in _split(t("follows"))],
        channels=[_split(c, "|") for c in _split(t("channels"), ";")] if items else [],
        recall_scores=[_float_or_none(x) for x in _split(t("recall_scores"))],
        rank_scores=[_float_or_none(x) for x in _split(t("rank_scores"))],
        heads=heads, head_scores=[flat[i:i + n_heads] for i in range(0, len(flat), n_heads)] if n_heads else [],
        latency_ms=float(t("latency_ms") or 0.0))


def rows(imp: Impression) -> list[dict]:
    """One flat row per shown item (the exporter's Parquet rows)."""
    n = len(imp.item_ids)

    def at(values: list, i: int, default=None):
        return values[i] if i < len(values) else default

    out = []
    for i, item in enumerate(imp.item_ids):
        heads = at(imp.head_scores, i, [])
        out.append({
            "request_id": imp.request_id, "user_id": imp.user_id, "ts_ms": imp.ts_ms, "item_id": item,
            "position": i + 1, "n_items": n, "experiment": imp.experiment,
            "ranker_version": imp.models.get("ranker", ""), "models": ",".join(
                f"{k}:{v}" for k, v in sorted(imp.models.items())),
            "region": imp.region, "device": imp.device, "local_hour": imp.hour, "age_bucket": imp.age_bucket,
            "gender": imp.gender, "degraded": ",".join(imp.degraded),
            "recall_pos": at(imp.recall_pos, i, 0), "rank_pos": at(imp.rank_pos, i, 0),
            "follows_author": at(imp.follows, i, 0), "channels": "|".join(at(imp.channels, i, [])),
            "recall_score": at(imp.recall_scores, i), "rank_score": at(imp.rank_scores, i),
            "head_scores": ",".join(f"{h}={s:.6g}" for h, s in zip(imp.heads, heads) if s is not None),
            "latency_ms": imp.latency_ms,
        })
    return out


class ImpressionLog:
    """Appends impressions to the stream in the background; never raises to the caller."""

    def __init__(self, client: aioredis.Redis, keys: Keys, cap: int = K.IMPRESSIONS_STREAM_CAP,
                 max_pending: int = MAX_PENDING):
        self.client, self.keys, self.cap, self.max_pending = client, keys, cap, max_pending
        self._pending: set[asyncio.Task] = set()

    def record(self, imp: Impression) -> None:
        """Schedule the write and return at once (call from the event loop)."""
        if len(self._pending) >= self.max_pending:  # Redis is slow or down: shed, count it
            metrics.IMPRESSIONS.labels("dropped").inc()
            return
        task = asyncio.get_running_loop().create_task(self.write(imp))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def write(self, imp: Impression) -> bool:
        try:
            # MAXLEN is a safety cap only: the exporter trims what it has exported (MINID).
            await self.client.xadd(self.keys.impressions_stream(), encode(imp), maxlen=self.cap,
                                   approximate=True)
        except (RedisError, OSError) as err:
            metrics.IMPRESSIONS.labels("failed").inc()
            log.warning("impression not logged", extra={"request_id": imp.request_id,
                                                        "error": type(err).__name__})
            return False
        metrics.IMPRESSIONS.labels("written").inc()
        return True

    async def drain(self) -> None:
        """Wait for the writes in flight (shutdown, tests)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
