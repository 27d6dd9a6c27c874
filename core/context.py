"""Who is asking: the request context every stage receives (plain dataclass, no protobuf)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    user_id: int
    region: int = 0
    device: int = 0
    local_hour: int = -1
    experiment: str = ""
    request_id: str = ""
