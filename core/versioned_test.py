from __future__ import annotations

import asyncio
import os

import pytest

from core.errors import NotFound
from core.registry.reader import Registry
from core.versioned import Versioned
from training.publish import publish


def put(root, text: str, live: bool = True) -> str:
    src = root.parent / f"src-{text}.txt"
    src.write_text(text)
    return publish(root, "m", {"value.txt": src}, {"kind": "test"}, make_live=live)


def read(mv) -> str:
    text = mv.file("value.txt").read_text()
    if text == "broken":
        raise ValueError("cannot build from a broken file")
    return text


def touch_aliases(registry: Registry) -> None:
    path = registry.aliases_path("m")
    os.utime(path, ns=(1, path.stat().st_mtime_ns + 10**9))  # visibly new even on coarse clocks


def test_follows_the_live_version_and_keeps_serving_through_a_refusal(tmp_path):
    root = tmp_path / "models"
    put(root, "one")
    registry = Registry(root)
    followed = Versioned.load(registry, "m", read)
    assert (followed.value, followed.version) == ("one", "v0001")
    assert not asyncio.run(followed.check())  # nothing changed

    registry.set_live("m", put(root, "two", live=False))
    touch_aliases(registry)
    assert asyncio.run(followed.check())
    assert (followed.value, followed.version) == ("two", "v0002")

    registry.set_live("m", put(root, "broken", live=False))
    touch_aliases(registry)
    assert not asyncio.run(followed.check())
    assert (followed.value, followed.version) == ("two", "v0002")  # the old one keeps serving
    assert followed.error.startswith("v0003")


def test_a_missing_model_is_an_error_unless_optional(tmp_path):
    registry = Registry(tmp_path)
    with pytest.raises(NotFound):
        Versioned.load(registry, "m", read)
    optional = Versioned.load(registry, "m", read, required=False)
    assert optional.value is None and optional.error
    put(tmp_path, "late")  # the first version appears after start
    assert asyncio.run(optional.check(force=True))
    assert optional.value == "late"


def test_fixed_never_changes():
    fixed = Versioned.fixed(42)
    assert fixed.value == 42 and not asyncio.run(fixed.check(force=True))
