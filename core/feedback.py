"""How feedback counts: which events enter the behaviour sequence and how much each adds to
the hot counters. One definition for the offline loader and the online event writer."""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class EventKind(IntEnum):
    """Mirrors recsys.v1.EventType (kept in sync by a test)."""

    IMPRESSION = 1
    VIEW = 2
    LIKE = 3
    SHARE = 4
    COMMENT = 5
    FOLLOW = 6
    UNFOLLOW = 7
    SKIP = 8
    DISLIKE = 9
    BLOCK = 10


HOT_WEIGHTS = {EventKind.VIEW: 1.0, EventKind.LIKE: 3.0, EventKind.COMMENT: 2.0,
               EventKind.SHARE: 5.0, EventKind.FOLLOW: 5.0}
# A view is engagement from this watched fraction on (or this many ms when duration is unknown).
ENGAGED_FRACTION = 0.5
ENGAGED_MS_UNKNOWN_DURATION = 5000
POSITIVE = {EventKind.LIKE, EventKind.SHARE, EventKind.COMMENT, EventKind.FOLLOW}


def is_engaged(kind: EventKind, watch_ms: int, duration_s: float | None) -> bool:
    if kind in POSITIVE:
        return True
    if kind != EventKind.VIEW:
        return False
    if duration_s:
        return watch_ms >= ENGAGED_FRACTION * duration_s * 1000
    return watch_ms >= ENGAGED_MS_UNKNOWN_DURATION


def engaged_rows(watch_ms: np.ndarray, duration_s: np.ndarray, *positive: np.ndarray) -> np.ndarray:
    """`is_engaged` for logged rows at once: any positive action (like, share, comment, follow
    columns), or a view watched for ENGAGED_FRACTION of its duration."""
    out = np.asarray(watch_ms) >= ENGAGED_FRACTION * np.asarray(duration_s, np.float64) * 1000.0
    for column in positive:
        out |= np.asarray(column) > 0
    return out


def hot_score(kind: EventKind, engaged: bool) -> float:
    if kind == EventKind.VIEW and not engaged:
        return 0.0
    return HOT_WEIGHTS.get(kind, 0.0)


@dataclass(frozen=True)
class EventData:
    """One validated event, as the store writes it (ts_ms 0 = now; author_id 0 = unknown)."""

    event_id: str
    user_id: int
    item_id: int
    kind: EventKind
    watch_ms: int
    ts_ms: int
    author_id: int
