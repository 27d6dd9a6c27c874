"""Which versions of one model this process serves, and which one serves a request.

A `ModelSlot` holds the live version, an optional canary (a stable share of users), and
pinned versions loaded on first use. Every change loads and verifies the new version off
the request path first (`LoadedModel.load`), then swaps one reference; a request keeps the
reference it started with, so in-flight requests finish on their version. A version that
fails verification is refused (FailedPrecondition), recorded in `errors`, and whatever
served before keeps serving.

The alias file is the source of truth shared by replicas: admin calls write it, and
`sync()` (polled by the service) makes this process follow it, so changing the file (for
example a Kubernetes ConfigMap) rolls a version on every replica without a restart.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from core.bucketing import in_share
from core.errors import FailedPrecondition, RecsysError
from core.rank.model import LoadedModel
from core.registry.reader import Registry
from core.versioned import AliasWatch, poll_forever

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Canary:
    model: LoadedModel
    percent: float


# One loader thread per process, at normal priority: a version is hashed, its session
# created, warmed up and checked there while the event loop keeps serving. It once ran at
# SCHED_IDLE, which gets CPU only when nothing else wants it: beside busy neighbours on a
# shared node a promotion never landed, and a starved thread holding the GIL stalls the loop
# (tests/reliability/swap_beside_busy_neighbours_test.py). Loading is mostly native code that
# releases the GIL (sha256, ONNX session build and runs), so the event loop keeps its share;
# the hand-over itself is one reference swap. Old versions are freed here too (an ONNX
# session's teardown is ~1 ms), once in-flight requests are done.
_LOADER = ThreadPoolExecutor(1, thread_name_prefix="model-loader")
RETIRE_AFTER_S = 10.0


class ModelSlot:
    def __init__(self, registry: Registry, name: str, threads: int = 1, cache_size: int = 3):
        self.registry, self.name, self.threads, self.cache_size = registry, name, threads, cache_size
        self.live: LoadedModel = self._load(registry.live_version(name))
        self.canary: Canary | None = None
        self.errors: dict[str, str] = {}  # version -> why it was refused
        self._pinned: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = asyncio.Lock()
        self._aliases = AliasWatch(registry, name)

    def _load(self, version: str) -> LoadedModel:
        return LoadedModel.load(self.registry.open(self.name, version), self.threads)

    async def _off_loop(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(_LOADER, fn, *args)

    def _retire(self, model: LoadedModel | None) -> None:
        """Free a replaced version on the loader thread once requests that started on it
        are long finished (the gRPC deadline of any caller is far shorter)."""
        if model is None:
            return
        box = [model]
        loop = asyncio.get_running_loop()
        loop.call_later(RETIRE_AFTER_S, lambda: loop.run_in_executor(_LOADER, box.clear))

    async def _load_off_path(self, version: str) -> LoadedModel:
        try:
            model = await self._off_loop(self._load, version)
        except RecsysError as err:
            self.errors[version] = str(err)
            log.error("model version refused", extra={"model": self.name, "version": version,
                                                      "error": str(err)})
            raise
        self.errors.pop(version, None)
        return model

    # ---- serving ----------------------------------------------------------------------------
    def route(self, user_id: int) -> LoadedModel:
        canary = self.canary
        if canary is not None and in_share(user_id, canary.percent, salt=f"canary:{self.name}"):
            return canary.model
        return self.live

    async def get(self, user_id: int, pinned: str = "") -> LoadedModel:
        if not pinned:
            return self.route(user_id)
        for model in (self.live, self.canary.model if self.canary else None):
            if model is not None and model.version == pinned:
                return model
        if pinned in self._pinned:
            self._pinned.move_to_end(pinned)
            return self._pinned[pinned]
        async with self._lock:
            if pinned not in self._pinned:
                self._pinned[pinned] = await self._load_off_path(pinned)
                while len(self._pinned) > self.cache_size:
                    self._pinned.popitem(last=False)
        return self._pinned[pinned]

    # ---- control ----------------------------------------------------------------------------
    async def promote(self, version: str) -> str:
        """Make `version` live (verified first); returns the version live before."""
        async with self._lock:
            model = await self._load_off_path(version)
            # The alias file is written with an fsync: off the loop, which keeps serving.
            previous = await self._off_loop(self.registry.set_live, self.name, version)
            self._aliases.mark_seen()
            self._replace_live(model)
            if self.canary is not None and self.canary.model.version == version:
                self._replace_canary(None)
            return previous

    async def rollback(self) -> tuple[str, str]:
        previous = self.registry.aliases(self.name).get("previous")
        if not previous:
            raise FailedPrecondition(f"model {self.name!r} has no previous version to roll back to")
        current = self.live.version
        await self.promote(previous)
        return previous, current

    async def set_canary(self, version: str, percent: float) -> None:
        async with self._lock:
            model = await self._load_off_path(version) if version and percent > 0 else None
            await self._off_loop(self.registry.set_canary, self.name, version, percent)
            self._aliases.mark_seen()
            self._replace_canary(Canary(model, percent) if model is not None else None)

    def _replace_live(self, model: LoadedModel) -> None:
        old, self.live = self.live, model
        self._retire(old)

    def _replace_canary(self, canary: Canary | None) -> None:
        old, self.canary = self.canary, canary
        if old is not None and (canary is None or old.model is not canary.model):
            self._retire(old.model)

    async def sync(self, force: bool = False) -> None:
        """Follow the alias file if it changed since we last looked. Never raises for a bad
        version: it is refused, logged and recorded, and the old one keeps serving."""
        if not self._aliases.changed() and not force:
            return
        async with self._lock:
            doc = self.registry.aliases(self.name)
            live, canary = doc.get("live"), doc.get("canary")
            percent = float(doc.get("canary_percent", 0) or 0)
            try:
                if live and live != self.live.version:
                    self._replace_live(await self._load_off_path(live))
                    log.info("live version changed", extra={"model": self.name, "version": live})
                if not canary or percent <= 0:
                    self._replace_canary(None)
                elif self.canary is None or self.canary.model.version != canary:
                    self._replace_canary(Canary(await self._load_off_path(canary), percent))
                else:
                    self.canary = Canary(self.canary.model, percent)
            except (RecsysError, OSError):
                pass  # refused: recorded in self.errors; what served before keeps serving

    def refused(self) -> dict[str, str]:
        """Versions the alias file asks for (live or canary) that were refused, with why: what
        health reports (the slot keeps serving what it served before)."""
        doc = self.registry.aliases(self.name)
        wanted = {doc.get("live"), doc.get("canary")} - {None, ""}
        return {v: why for v, why in self.errors.items() if v in wanted}

    async def watch(self, every_s: float) -> None:
        """Poll the alias file forever (run as a background task)."""
        await poll_forever(self.sync, every_s, self.name)

    def versions(self) -> list[dict]:
        loaded = {self.live.version} | set(self._pinned) | (
            {self.canary.model.version} if self.canary else set())
        out = []
        for version in self.registry.versions(self.name):
            try:
                manifest = self.registry.open(self.name, version, verify=False).manifest
            except (RecsysError, OSError, ValueError):
                manifest = {}
            out.append({"version": version, "created_ms": int(manifest.get("created_ms", 0)),
                        "live": version == self.live.version,
                        "canary_percent": self.canary.percent
                        if self.canary and self.canary.model.version == version else 0.0,
                        "loaded": version in loaded,
                        "metrics": {k: float(v) for k, v in manifest.get("metrics", {}).items()
                                    if isinstance(v, (int, float))},
                        "error": self.errors.get(version, ""),
                        "architecture": str(manifest.get("architecture", ""))})
        return out

