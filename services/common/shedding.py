"""Load shedding, shared by every edge of a process (the gRPC interceptor and the gateway's
HTTP API count against one limit).

A call is refused at once (RESOURCE_EXHAUSTED, counted) beyond `max_in_flight` concurrent
calls, or when the caller's remaining deadline is shorter than twice this method's recent
service time (an exponential average; twice, because under overload the next call is slower
than the average) — instead of working on an answer nobody will wait for.
"""
from __future__ import annotations

from core import metrics


class LoadShedder:
    def __init__(self, service: str, max_in_flight: int = 1 << 30):
        self.service, self.max_in_flight = service, max_in_flight
        self.in_flight = 0
        self.service_s: dict[str, float] = {}  # method -> recent service time (EWMA), seconds

    def refusal(self, method: str, remaining_s: float | None) -> str | None:
        """Why this call must be shed now (counted), or None to admit it."""
        late = remaining_s is not None and remaining_s < 2.0 * self.service_s.get(method, 0.0)
        if not late and self.in_flight < self.max_in_flight:
            return None
        if late:  # decay, so one slow spell cannot shut a method for good
            self.service_s[method] *= 0.98
        metrics.SHED.labels(self.service, method).inc()
        metrics.RPC_TOTAL.labels(self.service, method, "RESOURCE_EXHAUSTED").inc()
        return "overloaded: the deadline would pass first; retry later" if late else "overloaded; retry later"

    def served(self, method: str, elapsed_s: float) -> None:
        """A successful call's service time, for the deadline check."""
        self.service_s[method] = 0.9 * self.service_s.get(method, elapsed_s) + 0.1 * elapsed_s
