"""Follow a model's live version in the alias file and hand each new, verified version to a
loader, off the request path. A version that fails to open or load is logged and skipped;
what served before keeps serving. (The rank service's ModelSlot does the same with canaries.)
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from services.common.errors import RecsysError
from services.common.registry import ModelVersion, Registry

log = logging.getLogger(__name__)


class LiveVersionWatcher:
    def __init__(self, registry: Registry, name: str, current: str,
                 load: Callable[[ModelVersion], None]):
        self.registry, self.name, self.current, self.load = registry, name, current, load
        self._mtime = self._stat()
        self.error = ""

    def _stat(self) -> int:
        try:
            return self.registry.aliases_path(self.name).stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    async def check(self) -> bool:
        """Load the alias file's live version if it changed; True when a new one serves."""
        mtime = self._stat()
        if mtime == self._mtime:
            return False
        self._mtime = mtime
        live = self.registry.aliases(self.name).get("live")
        if not live or live == self.current:
            return False
        try:
            await asyncio.to_thread(lambda: self.load(self.registry.open(self.name, live)))
        except (RecsysError, OSError, ValueError) as err:
            self.error = f"{live}: {err}"
            log.error("model version refused", extra={"model": self.name, "version": live, "error": str(err)})
            return False
        self.current, self.error = live, ""
        log.info("live version changed", extra={"model": self.name, "version": live})
        return True

    async def watch(self, every_s: float) -> None:
        await poll_forever(self.check, every_s, self.name)


async def poll_forever(check: Callable[[], Awaitable[object]], every_s: float, model: str) -> None:
    """Call `check` every `every_s` seconds until cancelled (run as a background task)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await check()
        except Exception:  # the watcher must outlive any surprise
            log.exception("alias watch failed", extra={"model": model})
