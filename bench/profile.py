"""Where each service's time goes under load: py-spy on the running stack.

    python -m bench.profile [--seconds 10] [--concurrency 1,16] [--native]

For each concurrency, the four services are sampled with py-spy (nonblocking, so the
profiler does not pause them) while closed-loop users call the gateway:
* `bench/results/profiles/<service>-c<N>.svg`: a flame graph per service;
* `bench/results/profiles/<service>-c<N>.txt`: the same samples as collapsed stacks
  (one stack per line, `frame;frame;... count`), for grep, speedscope or a diff;
* `bench/results/profiles/summary.{json,md}`: per service, the share of its on-CPU samples
  by where the innermost frame is (our code, numpy, ONNX Runtime, protobuf, gRPC, asyncio,
  Redis client, metrics, logging), its CPU-ms and context switches per request.

The profiler costs some CPU itself: compare shares, not the latencies measured here.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

from bench.loadgen import LoadGen
from bench.measure import cpu_seconds, ctx_switches
from dev.redis_server import drop_prefix, ensure_redis
from dev.stack import Stack, bootstrap, wait_healthy
from training.world import World

# Innermost frame's file -> category; the first match wins (order matters: our own code is
# matched by the top-level package names of this repository).
CATEGORIES = (
    ("onnxruntime", re.compile(r"onnxruntime")),
    ("numpy", re.compile(r"numpy/|numpy\.")),
    ("faiss", re.compile(r"faiss")),
    ("protobuf", re.compile(r"google/protobuf|_pb2|upb|protobuf")),
    ("grpc", re.compile(r"grpc|cygrpc")),
    ("asyncio", re.compile(r"asyncio/|uvloop|selectors\.py|_asyncio")),
    ("redis client", re.compile(r"redis/|hiredis")),
    ("metrics", re.compile(r"prometheus_client")),
    ("logging", re.compile(r"logging/")),
    ("ours", re.compile(r"\((core|services|gateway|protos|recsys)/")),
)
FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^()]*)\)$")


def categorize(stack: str) -> str:
    """The category of one collapsed stack's innermost Python frame that names a file."""
    for frame in reversed(stack.split(";")):
        m = FRAME.match(frame.strip())
        where = m.group("file") if m else frame
        for name, pattern in CATEGORIES:
            if pattern.search(where) or pattern.search(frame):
                return name
        if m and m.group("file"):
            return "other python"
    return "native / unknown"


def summarize(raw: Path) -> dict:
    """Shares of samples by category, and the inclusive share of each servicer method."""
    by_cat: Counter = Counter()
    handlers: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        by_cat[categorize(stack)] += n
        # the servicer method on the stack (e.g. "RankServicer.Rank (services/rank/servicer.py:42)")
        m = re.search(r"(?:^|;)\s*\w+Servicer\.(\w+) \((?:services|gateway)/[\w/]*servicer\.py", stack)
        if m:
            handlers[m.group(1)] += n
    share = {k: round(v / total, 3) for k, v in by_cat.most_common()} if total else {}
    inclusive = {k: round(v / total, 3) for k, v in handlers.most_common()} if total else {}
    return {"samples": total, "share": share, "handler_inclusive": inclusive}


def threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def profile_phase(stack: Stack, gen: LoadGen, concurrency: int, seconds: float, out: Path, native: bool,
                  py_spy: str) -> dict:
    """One load phase with every service sampled twice over (a flame graph and raw stacks)."""
    pids = {n: p.pid for n, p in stack.procs.items()}
    spies = []
    for name, pid in pids.items():
        for fmt, suffix in (("flamegraph", "svg"), ("raw", "txt")):
            cmd = [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250",
                   "--format", fmt, "--output", str(out / f"{name}-c{concurrency}.{suffix}")]
            # --native pauses the process for each sample (py-spy cannot unwind C frames
            # otherwise): slower, but it shows gRPC core and ONNX Runtime from the inside.
            cmd.append("--native" if native else "--nonblocking")
            spies.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
    sw0 = {n: ctx_switches(p) for n, p in pids.items()}
    result = asyncio.run(gen.closed(concurrency, seconds + 1.0))
    cpu = {n: cpu_seconds(p) - cpu0[n] for n, p in pids.items()}
    sw = {n: ctx_switches(p) - sw0[n] for n, p in pids.items()}
    for spy in spies:
        _, err = spy.communicate(timeout=60)
        if spy.returncode != 0:
            raise RuntimeError(f"py-spy failed: {err.decode()[-500:]}")
    ok = max(result.ok, 1)
    services = {}
    for name, pid in pids.items():
        services[name] = summarize(out / f"{name}-c{concurrency}.txt") | {
            "cpu_ms_per_request": round(1000 * cpu[name] / ok, 3),
            "ctx_switches_per_request": round(sw[name] / ok, 2),
            "threads": threads(pid)}
    return {"load": result.summary(), "services": services}


def write_md(report: dict, path: Path) -> None:
    lines = ["# Where the services' time goes (py-spy, nonblocking, 250 Hz)", "",
             f"Command: `{report['command']}`. Shares are of each service's on-CPU samples, by the "
             "innermost frame's module; latencies here include the profiler's own cost. \"handler (incl.)\": "
             "samples with the servicer method on the stack; work it hands to other asyncio tasks (recall's "
             "channels, gathered) runs under the event loop instead, and \"asyncio\" as the innermost frame "
             "is mostly gRPC's own callbacks (C code the loop calls).", ""]
    for c, phase in report["phases"].items():
        load = phase["load"]
        lines += [f"## {c} concurrent user(s): p50 {load['p50_ms']:.1f} ms, {load['rps']:.0f} rps", "",
                  "| service | CPU-ms / req | ctx switches / req | threads | samples | top categories "
                  "| handler (incl.) |",
                  "|---|---:|---:|---:|---:|---|---|"]
        for name, s in phase["services"].items():
            top = ", ".join(f"{k} {v:.0%}" for k, v in list(s["share"].items())[:5])
            handler = ", ".join(f"{k} {v:.0%}" for k, v in s["handler_inclusive"].items())
            lines.append(f"| {name} | {s['cpu_ms_per_request']:.2f} | {s['ctx_switches_per_request']:.1f} | "
                         f"{s['threads']} | {s['samples']} | {top} | {handler} |")
        lines.append("")
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    p.add_argument("--world", type=Path, default=Path(os.environ.get("WORLD_DIR", "data/world")))
    p.add_argument("--registry", type=Path, default=Path(os.environ.get("REGISTRY_DIR", "models")))
    p.add_argument("--seconds", type=float, default=10.0, help="per phase")
    p.add_argument("--concurrency", default="1,16", help="closed-loop users per phase, comma-separated")
    p.add_argument("--native", action="store_true", help="also sample C/C++ frames (gRPC core, ONNX Runtime)")
    p.add_argument("--out", type=Path, default=Path("bench/results/profiles"))
    args = p.parse_args(argv)
    try:
        levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    except ValueError:
        p.error(f"--concurrency {args.concurrency!r}: expected integers separated by commas")
    if not levels or min(levels) < 1:
        p.error(f"--concurrency {args.concurrency!r}: at least one level, each >= 1")
    if args.seconds < 2:
        p.error(f"--seconds {args.seconds}: must be >= 2")
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        p.error("py-spy is not installed (pip install py-spy; it is in the `bench` extra)")
    if not (args.world / "world.json").exists():
        p.error(f"--world {args.world}: no world here (run `make world`)")
    if not (args.registry / "ranker" / "aliases.json").exists():
        p.error(f"--registry {args.registry}: no live models (run `make train`)")
    args.out.mkdir(parents=True, exist_ok=True)
    world = World.load(args.world)
    local = ensure_redis("redis://127.0.0.1:6379/0")
    prefix = f"bench-profile-{uuid.uuid4().hex[:6]}"
    report = {"command": "python -m bench.profile " + " ".join(argv if argv is not None else sys.argv[1:]),
              "phases": {}}
    try:
        bootstrap(args.world, args.registry, local.url, prefix, progress=False, say=lambda *_: None)
        with Stack(args.registry, local.url, prefix, Path("run/bench-logs")) as stack:
            wait_healthy(stack.address("gateway"), 60)
            gen = LoadGen.from_world(stack.address("gateway"), world)
            asyncio.run(gen.closed(4, 3.0))  # warm-up
            for c in levels:
                report["phases"][str(c)] = profile_phase(stack, gen, c, args.seconds, args.out, args.native, py_spy)
                print(json.dumps({c: {n: s["share"] for n, s in report["phases"][str(c)]["services"].items()}}),
                      flush=True)
    finally:
        drop_prefix(local.url, prefix)
        local.stop()
    (args.out / "summary.json").write_text(json.dumps(report, indent=1))
    write_md(report, args.out / "summary.md")
    print((args.out / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
