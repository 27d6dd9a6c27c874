"""Why a stage's handler costs more as a service than in process: experiments that isolate
one cause each (#21). Writes bench/results/floor.{json,md}.

    python -m bench.floor [--seconds 8] [--requests 300]

The stack, one closed-loop user, in each variant:
* `default`   : as `make bench` runs it (stages at nice 5);
* `nice0`     : every process at one priority;
* `pinned`    : gateway and load client on CPU 0, the three stages on CPU 1 (2-core machine);
for each: e2e p50, the gateway's view of every stage (p50), each stage's server-side mean
(from its own histogram, i.e. deserialize -> handler -> return, without the hop) and CPU-ms
and context switches per request.

What the neighbours cost each stage's handler: the same service and the same (captured)
requests, its handler mean in the stack at one user against the requests replayed to it
alone while the rest of the stack idles, in turns (`neighbours`).

Rerank's edge with no neighbour: the servicer's whole call against the local stage the
same-work pipeline calls, on captured requests in a hot loop, in turns (`rerank_edge`).

The same steps in one process (bench/e2e.in_process), each request timed by the gap before
it; the gaps take turns (none, sleep, spin, echo, none, ...) so that the machine's drift
falls on all of them alike:
* `none` : right after the previous request (what `make bench` calls in-process, "hot");
* `sleep`: after a 10 ms sleep (the CPU idles, nothing else runs);
* `spin` : after a 10 ms busy wait (the same gap, the CPU never idles, little memory touched);
* `echo` : after one echo-chain round trip (four other processes run and touch their memory,
           as they do in the stack).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import numpy as np
import redis.asyncio as aioredis
from recsys.v1 import gateway_pb2, gateway_pb2_grpc

import dev.stack
from bench.e2e import in_process
from bench.echo import EchoChain
from bench.loadgen import LoadGen, LoadResult
from bench.measure import SERVING_METHODS, cpu_seconds, ctx_switches, mean_ms, server_side_ms
from core.context import RequestContext
from dev.redis_server import drop_prefix, ensure_redis, free_port
from dev.stack import Stack, bootstrap, wait_healthy
from training.world import World


@contextlib.contextmanager
def bootstrapped(world_dir: Path, registry: Path, redis_url: str):
    """(the world, a fresh key prefix holding its state), the prefix dropped afterwards."""
    prefix = f"bench-floor-{uuid.uuid4().hex[:6]}"
    try:
        bootstrap(world_dir, registry, redis_url, prefix, progress=False, say=lambda *_: None)
        yield World.load(world_dir), prefix
    finally:
        drop_prefix(redis_url, prefix)


def stack_variant(name: str, world_dir: Path, registry: Path, redis_url: str, seconds: float) -> dict:
    metrics_ports = {s: free_port() for s in SERVING_METHODS}
    env = {f"{s.upper()}_METRICS_PORT": str(p) for s, p in metrics_ports.items()}
    saved = dev.stack.STAGE_NICENESS
    dev.stack.STAGE_NICENESS = 0 if name in ("nice0", "pinned") else saved
    try:
        with (bootstrapped(world_dir, registry, redis_url) as (world, prefix),
              Stack(registry, redis_url, prefix, Path("run/bench-logs"), env=env) as stack):
            wait_healthy(stack.address("gateway"), 60)
            pids = {n: p.pid for n, p in stack.procs.items()}
            if name == "pinned":
                for n, pid in pids.items():
                    cpu = "0" if n == "gateway" else "1"
                    subprocess.run(["taskset", "-a", "-p", "-c", cpu, str(pid)], check=True,
                                   stdout=subprocess.DEVNULL)
                os.sched_setaffinity(0, {0})
            gen = LoadGen.from_world(stack.address("gateway"), world)
            asyncio.run(gen.closed(2, 3.0))  # warm-up
            before = {s: server_side_ms(metrics_ports[s], s) for s in SERVING_METHODS}
            cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
            sw0 = {n: ctx_switches(p) for n, p in pids.items()}
            out = asyncio.run(gen.closed(1, seconds))
            after = {s: server_side_ms(metrics_ports[s], s) for s in SERVING_METHODS}
            ok = max(out.ok, 1)
            report = {
                "e2e_p50_ms": out.pct(50), "requests": out.ok,
                "gateway_view_p50_ms": {k: round(float(np.percentile(v, 50)), 3) for k, v in out.stage_ms.items()},
                "server_mean_ms": {s: mean_ms(before[s], after[s]) for s in SERVING_METHODS},
                "cpu_ms_per_request": {n: round(1000 * (cpu_seconds(p) - cpu0[n]) / ok, 3) for n, p in pids.items()},
                "ctx_switches_per_request": {n: round((ctx_switches(p) - sw0[n]) / ok, 1) for n, p in pids.items()},
            }
    finally:
        dev.stack.STAGE_NICENESS = saved
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return report


GAPS = ("none", "sleep", "spin", "echo")
GAP_S = 0.010


def gateway_glue(world_dir: Path, registry: Path, redis_url: str, seconds: float) -> dict:
    """The real gateway in front of the echo stages against the echo gateway in front of the
    same stages, one user: what the gateway's own work costs (state read, display info, the
    impression log, explanations, its stage wrappers) beyond the hop it cannot avoid."""
    with bootstrapped(world_dir, registry, redis_url) as (world, prefix), EchoChain() as echo:
        ports = {r: echo.ports[r] for r in ("recall", "rank", "rerank")}
        stack = Stack(registry, redis_url, prefix, Path("run/bench-logs"), ports=ports)
        stack.start_one("gateway")
        try:
            stack.wait_one("gateway")
            gens = {"echo_gateway": LoadGen.from_world(echo.address, world),
                    "real_gateway": LoadGen.from_world(stack.address("gateway"), world)}
            results = {name: LoadResult() for name in gens}
            for gen in gens.values():
                asyncio.run(gen.closed(1, 2.0))  # warm-up
            for _ in range(4):  # in turns: the machine's drift falls on both alike
                for name, gen in gens.items():
                    asyncio.run(gen.closed(1, seconds / 4, out=results[name]))
        finally:
            stack.stop()
    out = {f"{name}_p50_ms": r.pct(50) for name, r in results.items()}
    out["real_gateway_stages_p50_ms"] = results["real_gateway"].summary()["stages_p50_ms"]
    out["gateway_glue_ms"] = round(out["real_gateway_p50_ms"] - out["echo_gateway_p50_ms"], 3)
    return out


def inproc_variants(world_dir: Path, registry: Path, redis_url: str, n: int) -> dict:
    with bootstrapped(world_dir, registry, redis_url) as (world, prefix), EchoChain() as echo:
        async def run():
            async with grpc.aio.insecure_channel(echo.address) as channel:
                stub = gateway_pb2_grpc.GatewayServiceStub(channel)
                turn = iter(range(1 << 30))

                # The gap before each request, in turn, so that the machine's drift over
                # minutes falls on every variant alike.
                async def gap() -> str:
                    kind = GAPS[next(turn) % len(GAPS)]
                    if kind == "sleep":
                        await asyncio.sleep(GAP_S)
                    elif kind == "spin":
                        end = time.perf_counter() + GAP_S
                        while time.perf_counter() < end:
                            pass
                    elif kind == "echo":
                        await stub.Recommend(gateway_pb2.RecommendRequest(user_id=1, count=20), timeout=5)
                    return kind
                return await in_process(world, registry, redis_url, prefix, n * len(GAPS), between=gap)
        mixed = asyncio.run(run())
    return {kind: {"stages_mean_ms": mixed["stages_mean_ms_by_gap"][kind]} for kind in GAPS}


def captured_requests(registry: Path, redis_url: str, prefix: str, world: World, n: int) -> dict[str, list]:
    """The requests the gateway sends each stage for `n` users drawn by activity, as protos:
    the same-work pipeline (bench/in_process.py) runs each Recommend, and the gateway's own
    request builders (gateway/clients.py) turn its trace into what the stages would be sent."""
    from bench import in_process as same_work
    from gateway.clients import rank_request, recall_request, rerank_request
    from gateway.validation import RecommendInput
    users, counts = np.unique(world.impressions["user_id"], return_counts=True)
    rng = np.random.default_rng(1)

    async def run() -> dict[str, list]:
        pipeline, experiments, impressions, client = await same_work.build(registry, redis_url, prefix)
        s = pipeline.s
        out: dict[str, list] = {"recall": [], "rank": [], "rerank": []}
        try:
            for user in rng.choice(users, n, p=counts / counts.sum()).tolist():
                trace = await pipeline.run(RecommendInput(user_id=user, count=20, debug=False), None,
                                           experiments.assign(user))
                ctx = RequestContext(user_id=user, region=trace.state.region, request_id=trace.feed.request_id)
                out["recall"].append(recall_request(ctx, trace.state, s.recall_limit))
                out["rank"].append(rank_request(ctx, trace.state, trace.recalled.item_ids, s.rank_top_k))
                out["rerank"].append(rerank_request(ctx, trace.ranked.item_ids, trace.ranked.scores, 20,
                                                    s.rerank_policy, trace.state))
        finally:
            await impressions.drain()
            await client.aclose()
        return out
    return asyncio.run(run())


def neighbours(world_dir: Path, registry: Path, redis_url: str, seconds: float, rounds: int = 4) -> dict:
    """Each stage's handler mean (its own histogram) in the stack at one user, where the other
    services work between its requests, against the same service answering the requests the
    gateway would send it (captured, replayed one after the other) while the rest of the stack
    idles; in turns. The difference is what the neighbours' work costs the handler (caches,
    the two cores), with the same process, code and requests."""
    from recsys.v1 import rank_pb2_grpc, recall_pb2_grpc, rerank_pb2_grpc
    stubs = {"recall": (recall_pb2_grpc.RecallServiceStub, "Retrieve"),
             "rank": (rank_pb2_grpc.RankServiceStub, "Rank"), "rerank": (rerank_pb2_grpc.RerankServiceStub, "Rerank")}
    metrics_ports = {s: free_port() for s in SERVING_METHODS}
    env = {f"{s.upper()}_METRICS_PORT": str(p) for s, p in metrics_ports.items()}
    slot = seconds / rounds
    with (bootstrapped(world_dir, registry, redis_url) as (world, prefix),
          Stack(registry, redis_url, prefix, Path("run/bench-logs"), env=env) as stack):
        wait_healthy(stack.address("gateway"), 60)
        requests = captured_requests(registry, redis_url, prefix, world, 200)
        gen = LoadGen.from_world(stack.address("gateway"), world)
        in_stack = {s: [0.0, 0.0] for s in stubs}
        alone = {s: [0.0, 0.0] for s in stubs}

        def add(into: dict, stage: str, before: tuple[float, float]) -> None:
            after = server_side_ms(metrics_ports[stage], stage)
            into[stage][0] += after[0] - before[0]
            into[stage][1] += after[1] - before[1]

        async def replay(stage: str) -> None:
            cls, method = stubs[stage]
            async with grpc.aio.insecure_channel(stack.address(stage)) as channel:
                call = getattr(cls(channel), method)
                end = time.monotonic() + slot
                i = 0
                while time.monotonic() < end:
                    await call(requests[stage][i % len(requests[stage])], timeout=5)
                    i += 1

        asyncio.run(gen.closed(2, 3.0))  # warm-up
        for s in stubs:
            asyncio.run(replay(s))
        for _ in range(rounds):
            before = {s: server_side_ms(metrics_ports[s], s) for s in stubs}
            asyncio.run(gen.closed(1, slot))
            for s in stubs:
                add(in_stack, s, before[s])
            for s in stubs:
                before_s = server_side_ms(metrics_ports[s], s)
                asyncio.run(replay(s))
                add(alone, s, before_s)
    mean = lambda d: {s: round(t / max(c, 1), 3) for s, (t, c) in d.items()}  # noqa: E731
    return {"in_stack_mean_ms": mean(in_stack), "alone_mean_ms": mean(alone),
            "in_stack_over_alone": {s: round(mean(in_stack)[s] / max(mean(alone)[s], 1e-9), 3) for s in stubs},
            "requests": {s: int(c) for s, (_, c) in alone.items()}}


def rerank_edge(world_dir: Path, registry: Path, redis_url: str, rounds: int = 20, n: int = 60) -> dict:
    """Rerank's edge with no neighbour: the servicer's whole call (parse the request's bytes,
    validate, `core.rerank.request`, build and serialize the response) against the local stage
    the same-work pipeline calls (bench/in_process.LocalStages.rerank: the same request logic,
    answered as the gateway's dataclass), on `n` captured requests, in a hot loop, in turns."""
    from recsys.v1 import rerank_pb2

    from bench.in_process import LocalStages
    from core.registry.reader import Registry
    from core.rerank.policies import build_policies
    from core.store.clock import CatalogClock
    from core.store.keys import Keys
    from core.versioned import Versioned
    from services.common.convert import state_from_proto
    from services.rerank.__main__ import item_side_of
    from services.rerank.servicer import RerankServicer
    with bootstrapped(world_dir, registry, redis_url) as (world, prefix):
        requests = captured_requests(registry, redis_url, prefix, world, n)["rerank"]

        async def run() -> dict:
            client = aioredis.Redis.from_url(redis_url)
            side = Versioned.load(Registry(registry), "two_tower", item_side_of)
            servicer = RerankServicer(build_policies(), side, CatalogClock(client, Keys(prefix)))
            stages = LocalStages(None, None, None, side.value, CatalogClock(client, Keys(prefix)))
            blobs = [r.SerializeToString() for r in requests]
            args = [(RequestContext(user_id=r.user.user_id, region=r.user.region), np.asarray(r.item_ids, np.int64),
                     np.asarray(r.scores, np.float32), r.count, r.policy, state_from_proto(r.state))
                    for r in requests]

            async def edge() -> None:
                for b in blobs:
                    (await servicer.Rerank(rerank_pb2.RerankRequest.FromString(b), None)).SerializeToString()

            async def stage() -> None:
                for ctx, ids, scores, count, policy, state in args:
                    await stages.rerank(ctx, ids, scores, count, policy, 1.0, state=state)
            ms: dict[str, list[float]] = {"servicer": [], "local_stage": []}
            try:
                for i in range(rounds + 3):  # the first three rounds warm up
                    for name, f in (("servicer", edge), ("local_stage", stage)):
                        t0 = time.perf_counter()
                        await f()
                        if i >= 3:
                            ms[name].append((time.perf_counter() - t0) * 1000 / len(blobs))
            finally:
                await client.aclose()
            out = {f"{k}_ms": round(float(np.median(v)), 3) for k, v in ms.items()}
            out["ratio"] = round(out["servicer_ms"] / out["local_stage_ms"], 3)
            return out | {"requests": len(blobs), "rounds": rounds}
        return asyncio.run(run())


def write_md(report: dict, path: Path) -> None:
    lines = ["# Why a handler costs more as a service than in process (#21)", "",
             f"`{report['command']}`, {report['machine']}. One user, closed loop.", "",
             "## The stack", "",
             "| variant | e2e p50 | server-side mean recall / rank / rerank / gateway (ms) | "
             "gateway's view p50 recall / rank / rerank (ms) | CPU-ms / req (all four) | ctx switches / req |",
             "|---|---:|---|---|---:|---:|"]
    for name, v in report["stack"].items():
        sm, gv = v["server_mean_ms"], v["gateway_view_p50_ms"]
        lines.append(f"| {name} | {v['e2e_p50_ms']:.2f} | "
                     f"{sm['recall']:.2f} / {sm['rank']:.2f} / {sm['rerank']:.2f} / {sm['gateway']:.2f} | "
                     f"{gv.get('recall', 0):.2f} / {gv.get('rank', 0):.2f} / {gv.get('rerank', 0):.2f} | "
                     f"{sum(v['cpu_ms_per_request'].values()):.2f} | "
                     f"{sum(v['ctx_switches_per_request'].values()):.0f} |")
    g = report.get("gateway_glue")
    if g:
        lines += ["", "## The gateway's own work", "",
                  f"The real gateway in front of the echo stages: p50 {g['real_gateway_p50_ms']:.2f} ms; the echo "
                  f"gateway in front of the same stages: {g['echo_gateway_p50_ms']:.2f} ms; the difference, "
                  f"what the gateway's own work costs a request: **{g['gateway_glue_ms']:.2f} ms** (stages as "
                  f"the real gateway sees them, p50: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in g["real_gateway_stages_p50_ms"].items()) + ")."]
    nb = report.get("neighbours")
    if nb:
        lines += ["", "## What the neighbours cost each handler", "",
                  "The same service process and the same requests (those the gateway sends, captured from the "
                  "same-work pipeline): its handler's mean in the stack at one user, where the other services "
                  "work between its requests, and replayed to it one after the other while the rest of the "
                  "stack idles; in turns.", "",
                  "| stage | in the stack (ms) | alone (ms) | ratio | requests alone |", "|---|---:|---:|---:|---:|"]
        for s in ("recall", "rank", "rerank"):
            lines.append(f"| {s} | {nb['in_stack_mean_ms'][s]:.2f} | {nb['alone_mean_ms'][s]:.2f} | "
                         f"{nb['in_stack_over_alone'][s]:.2f} | {nb['requests'][s]} |")
    edge = report.get("rerank_edge")
    if edge:
        lines += ["", "## Rerank's edge, with no neighbour", "",
                  f"The servicer's whole call against the local stage, {edge['requests']} captured requests in a "
                  f"hot loop, {edge['rounds']} rounds in turns (medians): {edge['servicer_ms']:.3f} against "
                  f"{edge['local_stage_ms']:.3f} ms a request, **{edge['ratio']:.2f}x**."]
    lines += ["", "## The same steps in one process", "",
              "| gap before the request | mean state / recall / rank / rerank / display (ms) |", "|---|---|"]
    for name, v in report["inproc"].items():
        m = v["stages_mean_ms"]
        lines.append(f"| {name} | {m['state']:.2f} / {m['recall']:.2f} / "
                     f"{m['rank']:.2f} / {m['rerank']:.2f} / {m.get('display', 0):.2f} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.split("\n")[0])
    p.add_argument("--world", type=Path, default=Path(os.environ.get("WORLD_DIR", "data/world")))
    p.add_argument("--registry", type=Path, default=Path(os.environ.get("REGISTRY_DIR", "models")))
    p.add_argument("--seconds", type=float, default=8.0, help="per stack variant")
    p.add_argument("--requests", type=int, default=300, help="per in-process variant (0: skip them)")
    p.add_argument("--variants", default="default,nice0,pinned", help="stack variants, comma-separated")
    p.add_argument("--out", type=Path, default=Path("bench/results/floor.json"))
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - {"default", "nice0", "pinned"}
    if unknown:
        p.error(f"--variants: unknown {sorted(unknown)}")
    if not (args.world / "world.json").exists():
        p.error(f"--world {args.world}: no world here (run `make world`)")
    if not (args.registry / "ranker" / "aliases.json").exists():
        p.error(f"--registry {args.registry}: no live models (run `make train`)")
    local = ensure_redis("redis://127.0.0.1:6379/0")
    report = {"command": "python -m bench.floor " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": f"{os.cpu_count()} CPUs", "when": time.strftime("%Y-%m-%d %H:%M"), "stack": {}}
    try:
        for i, v in enumerate(variants):  # a variant named twice is measured twice (v, v#2)
            key = v if v not in report["stack"] else f"{v}#{variants[:i].count(v) + 1}"
            report["stack"][key] = stack_variant(v, args.world, args.registry, local.url, args.seconds)
            print(json.dumps({key: report["stack"][key]}), flush=True)
        report["gateway_glue"] = gateway_glue(args.world, args.registry, local.url, args.seconds)
        print(json.dumps({"gateway_glue": report["gateway_glue"]}), flush=True)
        report["neighbours"] = neighbours(args.world, args.registry, local.url, 2 * args.seconds)
        print(json.dumps({"neighbours": report["neighbours"]}), flush=True)
        report["rerank_edge"] = rerank_edge(args.world, args.registry, local.url)
        print(json.dumps({"rerank_edge": report["rerank_edge"]}), flush=True)
        report["inproc"] = (inproc_variants(args.world, args.registry, local.url, args.requests)
                            if args.requests else {})
        print(json.dumps({"inproc": report["inproc"]}), flush=True)
    finally:
        local.stop()
    args.out.write_text(json.dumps(report, indent=1))
    write_md(report, args.out.with_suffix(".md"))
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
