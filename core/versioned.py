"""Following a model's versions: the one way every service picks up a new version.

`Versioned` holds a value built from a model's live version (an item table, a channel's
tables, the vectors rerank diversifies with) and follows the registry's alias file: when the
alias names a new live version, the value is rebuilt off the request path (a worker thread at
normal priority: a starved loader never finishes on a busy node, DESIGN §8) and swapped in
one assignment, so a request sees the old value or the new one, never a mix. A version that
fails to open or build is logged and recorded in `error`; what served before keeps serving.

`AliasWatch` is the change detector underneath (the alias file's mtime), shared with the rank
service's `ModelSlot`, which adds canaries and pinned versions on top of the same signal.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from core.errors import RecsysError
from core.registry.reader import ModelVersion, Registry

log = logging.getLogger(__name__)
T = TypeVar("T")


class AliasWatch:
    """Tells whether a model's alias file changed since the last look."""

    def __init__(self, registry: Registry, name: str):
        self.registry, self.name = registry, name
        self.seen = self.mtime()

    def mtime(self) -> int:
        try:
            return self.registry.aliases_path(self.name).stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def changed(self) -> bool:
        """True once per change (and marks it seen)."""
        mtime = self.mtime()
        if mtime == self.seen:
            return False
        self.seen = mtime
        return True

    def mark_seen(self) -> None:
        """After this process wrote the file itself."""
        self.seen = self.mtime()


class Versioned(Generic[T]):
    """`value` built by `build(version)` from the live version of model `name`, kept current."""

    def __init__(self, registry: Registry | None, name: str, build: Callable[[ModelVersion], T],
                 value: T | None = None, version: str = ""):
        self.registry, self.name, self.build = registry, name, build
        self.value, self.version, self.error = value, version, ""
        self._watch = AliasWatch(registry, name) if registry is not None else None

    @classmethod
    def load(cls, registry: Registry, name: str, build: Callable[[ModelVersion], T],
             required: bool = True) -> Versioned[T]:
        """Build from the live version now (at start-up). With `required=False` a missing or
        broken version leaves `value` None (logged) and the next live version fills it."""
        followed = cls(registry, name, build)
        try:
            mv = registry.open(name)
            followed.value, followed.version = build(mv), mv.version
        except (RecsysError, OSError, ValueError) as err:
            if required:
                raise
            followed.error = str(err)
            log.warning("no live version yet", extra={"model": name, "error": str(err)})
        return followed

    @classmethod
    def fixed(cls, value: T, version: str = "fixed") -> Versioned[T]:
        """A value that never changes (tests, tools)."""
        return cls(None, "", lambda mv: value, value, version)

    async def check(self, force: bool = False) -> bool:
        """Build and swap in the alias file's live version if it changed; True when it did."""
        if self._watch is None or not (self._watch.changed() or force):
            return False
        live = self.registry.aliases(self.name).get("live")
        if not live or live == self.version:
            return False
        try:
            value = await asyncio.to_thread(lambda: self.build(self.registry.open(self.name, live)))
        except (RecsysError, OSError, ValueError) as err:
            self.error = f"{live}: {err}"
            log.error("model version refused", extra={"model": self.name, "version": live, "error": str(err)})
            return False
        self.value, self.version, self.error = value, live, ""
        log.info("live version changed", extra={"model": self.name, "version": live})
        return True

    async def follow(self, every_s: float) -> None:
        """Poll forever (run as a background task)."""
        await poll_forever(self.check, every_s, self.name)


async def poll_forever(check: Callable[[], Awaitable[object]], every_s: float, model: str) -> None:
    """Call `check` every `every_s` seconds until cancelled (run as a background task)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await check()
        except Exception:  # the follower must outlive any surprise
            log.exception("alias watch failed", extra={"model": model})
