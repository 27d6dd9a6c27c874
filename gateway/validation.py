"""Checking the public API's input. Every error names the offending field."""
from __future__ import annotations

from dataclasses import dataclass

from core.errors import InvalidArgument
from core.feedback import EventData, EventKind

DEVICES = {"ios": 1, "android": 2, "web": 3}
CONTEXT_KEYS = ("device", "local_hour", "region")
MAX_EVENT_ID = 128
MAX_WATCH_MS = 86_400_000
MAX_CONTEXT_VALUE = 64
MAX_EXPERIMENT = 64


@dataclass(frozen=True)
class RecommendInput:
    user_id: int
    count: int
    debug: bool
    device: int = 0
    local_hour: int = -1
    region: int = 0
    experiment: str = ""


def _int_in(field: str, text: str, lo: int, hi: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidArgument(field, f"must be an integer {lo}..{hi}, got {text!r}") from None
    if not lo <= value <= hi:
        raise InvalidArgument(field, f"must be {lo}..{hi}, got {value}")
    return value


def parse_recommend(request, max_count: int, n_regions: int) -> RecommendInput:
    if request.user_id < 1:
        raise InvalidArgument("user_id", f"required, must be >= 1 (got {request.user_id})")
    if not 1 <= request.count <= max_count:
        raise InvalidArgument("count", f"must be 1..{max_count}, got {request.count}")
    ctx = dict(request.context)
    unknown = sorted(set(ctx) - set(CONTEXT_KEYS))
    if unknown:
        raise InvalidArgument(f"context.{unknown[0][:MAX_CONTEXT_VALUE]}",
                              f"unknown key; known keys: {', '.join(CONTEXT_KEYS)}")
    for key, value in ctx.items():
        if len(value) > MAX_CONTEXT_VALUE:
            raise InvalidArgument(f"context.{key}", f"longer than {MAX_CONTEXT_VALUE} characters")
    device = 0
    if "device" in ctx:
        if ctx["device"] not in DEVICES:
            raise InvalidArgument("context.device", f"must be one of {', '.join(DEVICES)}")
        device = DEVICES[ctx["device"]]
    hour = _int_in("context.local_hour", ctx["local_hour"], 0, 23) if "local_hour" in ctx else -1
    region = _int_in("context.region", ctx["region"], 1, n_regions) if "region" in ctx else 0
    experiment = getattr(request, "experiment", "")
    if len(experiment) > MAX_EXPERIMENT or not experiment.isprintable():
        raise InvalidArgument("experiment", f"at most {MAX_EXPERIMENT} printable characters")
    return RecommendInput(request.user_id, request.count, getattr(request, "debug", False), device,
                          hour, region, experiment)


def parse_explain(request, max_count: int, n_regions: int) -> tuple[RecommendInput, int]:
    if request.item_id < 1:
        raise InvalidArgument("item_id", f"required, must be >= 1 (got {request.item_id})")
    if not 0 <= request.count <= max_count:
        raise InvalidArgument("count", f"must be 0..{max_count}, got {request.count}")
    return parse_recommend(_WithCount(request, request.count or 20), max_count, n_regions), request.item_id


class _WithCount:
    """An ExplainRequest seen as a RecommendRequest with a default count."""

    def __init__(self, request, count: int):
        self.user_id, self.count, self.context = request.user_id, count, request.context


def parse_events(events, max_batch: int) -> list[EventData]:
    """All or nothing: one malformed event rejects the batch."""
    if not 1 <= len(events) <= max_batch:
        raise InvalidArgument("events", f"must hold 1..{max_batch} events, got {len(events)}")
    out = []
    for i, e in enumerate(events):
        f = f"events[{i}]"
        if not 1 <= len(e.event_id) <= MAX_EVENT_ID or not e.event_id.isprintable():
            raise InvalidArgument(f"{f}.event_id", f"must be 1..{MAX_EVENT_ID} printable characters")
        if e.user_id < 1:
            raise InvalidArgument(f"{f}.user_id", f"must be >= 1, got {e.user_id}")
        try:
            kind = EventKind(e.type)
        except ValueError:
            raise InvalidArgument(f"{f}.type", f"must be a known EventType, got {e.type}") from None
        follow = kind in (EventKind.FOLLOW, EventKind.UNFOLLOW, EventKind.BLOCK)
        if e.item_id < 0 or (e.item_id == 0 and not (follow and e.author_id > 0)):
            raise InvalidArgument(f"{f}.item_id", f"must be >= 1, got {e.item_id}")
        if e.author_id < 0 or (e.author_id and not follow):
            raise InvalidArgument(f"{f}.author_id", "only FOLLOW/UNFOLLOW/BLOCK carry an author_id (>= 1)")
        if not 0 <= e.watch_ms <= MAX_WATCH_MS or (e.watch_ms and kind != EventKind.VIEW):
            raise InvalidArgument(f"{f}.watch_ms", f"must be 0..{MAX_WATCH_MS}, and 0 unless VIEW")
        if e.ts_ms < 0:
            raise InvalidArgument(f"{f}.ts_ms", f"must be >= 0, got {e.ts_ms}")
        out.append(EventData(e.event_id, e.user_id, e.item_id, kind, e.watch_ms, e.ts_ms,
                             e.author_id))
    return out
