"""`make restarts`: kill and restart rerank and recall many times under light load, and catch
any native crash. Writes bench/results/restarts.json.

    python -m bench.restarts [--cycles 200] [--max-minutes 15] [--world data/world] [--registry models]

Once, a rerank process died of a segmentation fault on a chaos restart (not seen again in 25
restarts). This hunts for it: each cycle stops both stages — by SIGKILL on even cycles (what
the chaos test does), by SIGTERM on odd ones (the graceful drain and interpreter exit, where
native libraries tear down their threads) — starts them again, waits until they answer
health checks, and lets the light load (two closed-loop users through the gateway) reach
them for a moment. Every process runs with PYTHONFAULTHANDLER=1 (the local stack sets it),
so a fatal signal leaves the Python stack of every thread in its log.

Reported: cycles done, each stage's exit codes (expected: -9 after SIGKILL, 0 after SIGTERM),
every unexpected end (a process gone before it was stopped, a failed start, a graceful stop
with another code), the faulthandler reports found in the logs, and the load's outcome. The
run stops by itself after --cycles or --max-minutes, whichever comes first.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from bench.loadgen import LoadGen, LoadResult
from dev.redis_server import drop_prefix, ensure_redis
from dev.stack import Stack, bootstrap
from training.world import World

STAGES = ("rerank", "recall")
EXPECTED = {signal.SIGKILL: -signal.SIGKILL, signal.SIGTERM: 0}
# What faulthandler writes on a fatal signal ("Fatal Python error: Segmentation fault"), and
# what a dying interpreter prints otherwise.
FATAL = re.compile(r"Fatal Python error|Segmentation fault|Aborted|Bus error|Floating point exception")
SERVE_S = 0.5  # light load on the restarted stages before the next stop


def stop(stack: Stack, name: str, sig: signal.Signals) -> int | None:
    """Stop one stage with `sig`; its exit code, or None when it was not running."""
    proc = stack.procs.get(name)
    if proc is None:
        return None
    stack.stop_one(name, sig)
    return proc.returncode


def fatal_reports(log: Path, context_lines: int = 40) -> list[str]:
    """Each faulthandler report (or other fatal-signal message) in a log, with the lines after it."""
    if not log.exists():
        return []
    lines = log.read_text(errors="replace").splitlines()
    return ["\n".join(lines[i:i + context_lines]) for i, line in enumerate(lines) if FATAL.search(line)]


class BackgroundLoad:
    """Closed-loop users through the gateway until stopped (one-second rounds)."""

    def __init__(self, gen: LoadGen, concurrency: int):
        self.gen, self.concurrency = gen, concurrency
        self.out = LoadResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        while not self._stop.is_set():
            await self.gen.closed(self.concurrency, 1.0, out=self.out)

    def __enter__(self) -> BackgroundLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def cycle(stack: Stack, n: int, codes: dict[str, Counter], unexpected: list[dict]) -> None:
    sig = signal.SIGKILL if n % 2 == 0 else signal.SIGTERM
    for name in STAGES:
        proc = stack.procs.get(name)
        if proc is not None and proc.poll() is not None:  # died on its own since the last cycle
            unexpected.append({"cycle": n, "stage": name, "when": "serving", "code": proc.returncode})
            stack.procs.pop(name)
        code = stop(stack, name, sig)
        if code is not None:
            codes[name][str(code)] += 1
            if code != EXPECTED[sig]:
                unexpected.append({"cycle": n, "stage": name, "when": f"stopped by {sig.name}", "code": code})
    for name in STAGES:
        stack.start_one(name)
    for name in STAGES:
        try:
            stack.wait_one(name, timeout_s=60)
        except (RuntimeError, TimeoutError) as err:
            proc = stack.procs.get(name)
            unexpected.append({"cycle": n, "stage": name, "when": "starting",
                               "code": proc.poll() if proc else None, "error": str(err)[-1500:]})
    time.sleep(SERVE_S)


def run(world_dir: Path, registry_dir: Path, cycles: int, max_minutes: float, concurrency: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-restarts-"))
    local = ensure_redis("redis://127.0.0.1:6379/0")
    prefix = f"restarts-{uuid.uuid4().hex[:6]}"
    stack = Stack(registry_dir, local.url, prefix, work / "logs")
    codes = {name: Counter() for name in STAGES}
    unexpected: list[dict] = []
    done = 0
    try:
        bootstrap(world_dir, registry_dir, local.url, prefix, progress=False, say=lambda *_: None)
        stack.start()
        gen = LoadGen.from_world(stack.address("gateway"), World.load(world_dir), count=10, seed=0)
        start = time.monotonic()
        with BackgroundLoad(gen, concurrency) as load:
            while done < cycles and time.monotonic() - start < max_minutes * 60:
                cycle(stack, done, codes, unexpected)
                done += 1
                if done % 10 == 0:
                    print(f"restarts: {done} cycles, {len(unexpected)} unexpected, "
                          f"{time.monotonic() - start:.0f} s", flush=True)
        elapsed = time.monotonic() - start
        stack.stop()
        reports = {name: fatal_reports(work / "logs" / f"{name}.log") for name in STAGES}
        return {
            "cycles": done, "cycles_asked": cycles, "seconds": round(elapsed, 1),
            "stop_signals": "SIGKILL on even cycles, SIGTERM on odd ones",
            "exit_codes": {name: dict(c) for name, c in codes.items()},
            "unexpected": unexpected, "fatal_reports": reports,
            "crashes": sum(len(r) for r in reports.values()) + len(unexpected),
            "load": {k: v for k, v in load.out.summary().items() if not k.startswith("stages")},
        }
    finally:
        stack.stop()
        drop_prefix(local.url, prefix)
        local.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.restarts", description=__doc__.split("\n")[0])
    p.add_argument("--world", type=Path, default=Path("data/world"))
    p.add_argument("--registry", type=Path, default=Path("models"))
    p.add_argument("--cycles", type=int, default=200)
    p.add_argument("--max-minutes", type=float, default=15.0, help="stop after this long, cycles done or not")
    p.add_argument("--concurrency", type=int, default=2, help="closed-loop users of the light load")
    p.add_argument("--out", type=Path, default=Path("bench/results/restarts.json"))
    args = p.parse_args(argv)
    if not (args.world / "world.json").exists():
        p.error(f"--world {args.world}: no world (run `make train` first)")
    report = run(args.world, args.registry, args.cycles, args.max_minutes, args.concurrency)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "fatal_reports"}, indent=2))
    return 1 if report["crashes"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
