"""Shared fixtures: a real Redis, a small trained world, the real stack on free ports.

Every test run writes under its own Redis key prefix (and removes it afterwards), so runs
never see each other's data, even on a shared Redis.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from core.store.keys import Keys
from dev.redis_server import drop_prefix, ensure_redis
from dev.stack import Stack, bootstrap
from training import train
from training.world import WorldConfig, generate

# The default world (what `make demo` serves): the integration tests check the behaviour a
# user meets, and smaller worlds train models too weak to show within-session learning.
TEST_WORLD = WorldConfig()


@pytest.fixture(scope="session")
def redis_url():
    local = ensure_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    yield local.url
    local.stop()


@pytest.fixture
def prefix(redis_url):
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    drop_prefix(redis_url, name)


@pytest.fixture
def keys(prefix) -> Keys:
    return Keys(prefix)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    """(world_dir, registry_dir) of a small world with trained, published models."""
    root = tmp_path_factory.mktemp("artifacts")
    world_dir, registry_dir = root / "world", root / "models"
    generate(TEST_WORLD, progress=False).save(world_dir)
    train.run(world_dir, registry_dir, epochs=2)
    return world_dir, registry_dir


@pytest.fixture(scope="session")
def stack(artifacts, redis_url, tmp_path_factory):
    """The four services, started once for the session, with the world's state loaded."""
    world_dir, registry_dir = artifacts
    name = f"test-stack-{uuid.uuid4().hex[:8]}"
    bootstrap(world_dir, registry_dir, redis_url, name, progress=False, say=lambda *_: None)
    s = Stack(registry_dir, redis_url, name, tmp_path_factory.mktemp("logs"))
    s.start()
    yield s
    s.stop()
    drop_prefix(redis_url, name)


@pytest.fixture(scope="session")
def world(artifacts):
    from training.world import World
    return World.load(artifacts[0])


def pytest_collection_modifyitems(items):
    for item in items:
        if any(f"tests/{kind}" in str(Path(item.fspath)) for kind in ("integration", "security", "reliability")):
            item.add_marker(pytest.mark.integration)
