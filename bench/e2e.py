"""End-to-end benchmark: the whole stack under load, the same pipeline in process, and an
echo chain of the same four hops. Writes bench/results/latest.{json,md,png}.

    python -m bench.e2e [--seconds 8] [--world data/world] [--registry models]
    python -m bench.e2e --only http [--requests 300]   # HTTP vs gRPC alone, merged into latest.json
    python -m bench.e2e --only catalog                 # the catalog scaling alone, merged likewise
    python -m bench.e2e --only impressions             # what the impression log adds, likewise
    python -m bench.e2e --only turns [--repeats 5]     # the in-turns target ratios, repeated, likewise

* closed loop at 1, 4 and 16 concurrent users, open loop at 25/50/75% of the measured
  capacity (bench/loadgen.py; users drawn by activity, loopback only);
* per-stage latency from the responses' own timings;
* in process: the same four steps (state read from Redis, recall pipeline, pre-rank + rank,
  rerank policy) called one after the other without gRPC -> `overhead_ratio` = e2e p50 at
  one user / in-process p50;
* the echo chain (bench/echo.py) at 16 users -> `throughput_ratio` = pipeline RPS / echo RPS;
* cost per request in CPU-ms (the four services' CPU time over the 16-user phase / answers)
  and each service's RSS;
* HTTP/JSON against gRPC: the same `Recommend` (10 items, users drawn in turn), one client,
  calls alternating between the two edges (which goes first alternates too), keep-alive on
  both -> `http_over_grpc_p50` (target <= 1.5); `--only http` runs this part alone and merges
  it into the existing results (every other key kept);
* `impression_log`: what writing the impression log adds to Recommend (p50 and the gateway's
  CPU per request), against a second gateway with the log off, the two loaded in turns;
* `catalog`: the whole stack again at 10k, 100k and 1M videos (the trained catalog grown
  as in bench/recall.py; ranker and pre-rank see the added videos as unknown ids), one stack
  per size, all up at once and loaded in turns, one user, closed loop: end-to-end and
  per-stage p99, the recall stage's mean as the gateway sees it and as its handler measures
  it, and every service's RSS.
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import numpy as np
import redis.asyncio as aioredis
from recsys.v1 import gateway_pb2, gateway_pb2_grpc

from bench import in_process as same_work
from bench.echo import EchoChain
from bench.loadgen import LoadGen, LoadResult
from bench.measure import SERVING_METHODS, cpu_seconds, mean_ms, rss_mb, server_side_ms
from core.context import RequestContext
from core.rank import scoring
from core.rank.model import LoadedModel
from core.registry.reader import Registry
from core.rerank.candidates import ItemSide
from core.rerank.policies import build_policies
from core.store import item_meta
from core.store.keys import Keys
from core.store.user_state import read_user_state
from dev.redis_server import drop_prefix, ensure_redis, free_port
from dev.stack import ROOT, Stack, bootstrap, wait_healthy
from gateway.settings import GatewaySettings
from services.recall.__main__ import build_pipeline
from services.recall.settings import RecallSettings
from training.world import World

CONCURRENCY = (1, 4, 16)
OPEN_SHARES = (0.25, 0.5, 0.75)
# At one user a stage idles while the other stages work (~10 ms a request here).
IDLE_BETWEEN_S = 0.010


async def in_process(world: World, registry: Path, redis_url: str, prefix: str, n: int = 300,
                     between: Callable[[], Awaitable[str | None]] | None = None) -> dict:
    """The pipeline's steps without gRPC, one request at a time: state read, recall, pre-rank
    + rank, rerank, and the page's display info (the gateway's cache, and one Redis round
    trip for what it misses). `between` runs between two requests, outside the timings, and may name what it did:
    the next request's timings are also kept under that name (bench/floor.py: what else
    runs between two requests changes their cost)."""
    client = aioredis.Redis.from_url(redis_url)
    keys = Keys(prefix)
    recall = build_pipeline(RecallSettings(registry_dir=registry, redis_url=redis_url, redis_prefix=prefix), client)
    reg = Registry(registry)
    ranker, prerank = LoadedModel.load(reg.open("ranker")), LoadedModel.load(reg.open("prerank"))
    tt = reg.open("two_tower")
    side = ItemSide(ranker.items, np.load(tt.file("item_vectors.npy"), allow_pickle=False))
    policy = build_policies()["default"]
    meta_cache = item_meta.ItemMetaCache(GatewaySettings().item_meta_ttl_s)
    users, counts = np.unique(world.impressions["user_id"], return_counts=True)
    rng = np.random.default_rng(0)
    samples, stages = [], {"state": [], "recall": [], "rank": [], "rerank": [], "display": []}
    by_gap: dict[str | None, dict[str, list[float]]] = {}  # by what `between` said it did before
    gap = None
    try:
        cpu_start = None
        for i in range(n + 30):
            if i == 30:  # after the warm-up: this process's CPU (Redis' own is not counted, as in the stack)
                cpu_start, cpu_requests = time.process_time(), 0
            user = int(rng.choice(users, p=counts / counts.sum()))
            t0 = time.perf_counter()
            state = await read_user_state(client, keys, user)
            t1 = time.perf_counter()
            ctx = RequestContext(user_id=user, region=state.region)
            recalled = await recall.retrieve(ctx, state)
            t2 = time.perf_counter()
            scored = scoring.score(ctx, state, recalled.candidates.item_ids, recall.clock.now_ms(), ranker, prerank,
                                   200, 50)
            t3 = time.perf_counter()
            page = policy.apply(side.candidates(scored.item_ids, scored.fused), 20)
            t4 = time.perf_counter()
            _, misses = meta_cache.split(scored.item_ids[page.feed].tolist())  # as the gateway does
            if misses:
                meta_cache.store(misses, await item_meta.read_item_meta(client, keys, misses))
            t5 = time.perf_counter()
            if i >= 30:  # warm-up first
                cpu_requests += 1
                samples.append((t5 - t0) * 1000)
                for name, a, b in (("state", t0, t1), ("recall", t1, t2), ("rank", t2, t3), ("rerank", t3, t4),
                                   ("display", t4, t5)):
                    stages[name].append((b - a) * 1000)
                    by_gap.setdefault(gap, {}).setdefault(name, []).append((b - a) * 1000)
            if between is not None:
                gap = await between()
    finally:
        await client.aclose()
    cpu_ms = 1000 * (time.process_time() - cpu_start) / max(cpu_requests, 1) if cpu_start is not None else float("nan")
    return {"p50_ms": round(float(np.percentile(samples, 50)), 3), "cpu_ms_per_request": round(cpu_ms, 3),
            "p99_ms": round(float(np.percentile(samples, 99)), 3),
            "stages_p50_ms": {k: round(float(np.percentile(v, 50)), 3) for k, v in stages.items()},
            "stages_mean_ms": {k: round(float(np.mean(v)), 3) for k, v in stages.items()},
            "stages_mean_ms_by_gap": {str(g): {k: round(float(np.mean(v)), 3) for k, v in st.items()}
                                      for g, st in by_gap.items() if g is not None}}


def http_vs_grpc(stack: Stack, user_ids: np.ndarray, n: int = 300, count: int = 10) -> dict:
    """p50 of the same Recommend over HTTP/JSON and over gRPC, one client, alternating: each
    user is asked on both edges, and which edge goes first alternates (the second call of a
    pair finds the first one's impression write in flight)."""
    host, port = stack.address("http").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    times: dict[str, list[float]] = {"http": [], "grpc": []}

    def over_grpc(stub, user: int) -> None:
        reply = stub.Recommend(gateway_pb2.RecommendRequest(user_id=user, count=count), timeout=10)
        if len(reply.items) != count:
            raise RuntimeError(f"gRPC recommend answered {len(reply.items)} items, not {count}")

    def over_http(user: int) -> None:
        conn.request("POST", "/v1/recommend", json.dumps({"user_id": user, "count": count}),
                     {"content-type": "application/json"})
        reply = conn.getresponse()
        body = json.loads(reply.read())
        if reply.status != 200 or len(body["items"]) != count:
            raise RuntimeError(f"HTTP recommend answered {reply.status}: {str(body)[:200]}")

    with grpc.insecure_channel(stack.address("gateway")) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        edges = [("grpc", lambda u: over_grpc(stub, u)), ("http", over_http)]
        for i in range(n + 20):  # the first 20 warm both up
            user = int(user_ids[i % len(user_ids)])
            for name, call in edges if i % 2 == 0 else edges[::-1]:
                t0 = time.perf_counter()
                call(user)
                if i >= 20:
                    times[name].append((time.perf_counter() - t0) * 1000)
    conn.close()
    p50 = {k: float(np.percentile(v, 50)) for k, v in times.items()}
    return {"http_p50_ms": round(p50["http"], 3), "grpc_p50_ms": round(p50["grpc"], 3),
            "http_over_grpc_p50": round(p50["http"] / p50["grpc"], 3), "requests": n, "count": count}


def run_on_stack(world_dir: Path, registry: Path, measure, metrics_ports: dict[str, int] | None = None) -> dict:
    """The whole stack, warmed up, then `measure(stack, world)` alone (no load phases);
    `metrics_ports`: service -> the /metrics port it is started with."""
    world = World.load(world_dir)
    local = ensure_redis("redis://127.0.0.1:6379/0")
    prefix = f"bench-part-{uuid.uuid4().hex[:6]}"
    env = {f"{s.upper()}_METRICS_PORT": str(p) for s, p in (metrics_ports or {}).items()}
    try:
        bootstrap(world_dir, registry, local.url, prefix, progress=False, say=lambda *_: None)
        with Stack(registry, local.url, prefix, Path("run/bench-logs"), env=env) as stack:
            wait_healthy(stack.address("gateway"), 60)
            asyncio.run(LoadGen.from_world(stack.address("gateway"), world).closed(1, 2.0))  # warm-up
            return measure(stack, world)
    finally:
        drop_prefix(local.url, prefix)
        local.stop()


def run_http_only(world_dir: Path, registry: Path, n: int) -> dict:
    """`http_vs_grpc` alone on a fresh stack."""
    return run_on_stack(world_dir, registry, lambda stack, world: http_vs_grpc(stack, world.users["user_id"], n=n))


def impression_log_cost(stack: Stack, world: World, seconds: float, rounds: int = 4) -> dict:
    """What writing the impression log adds to Recommend: a second gateway with the log off
    (GATEWAY_LOG_IMPRESSIONS=false) in front of the same stages, one user, the two gateways
    loaded in turns (the machine's drift falls on both alike). p50 and the gateway's CPU per
    request, with the log and without."""
    ports = {n: stack.ports[n] for n in ("recall", "rank", "rerank")}
    off = Stack(stack.registry_dir, stack.redis_url, stack.prefix, stack.log_dir / "no-impressions", ports=ports,
                env={"GATEWAY_LOG_IMPRESSIONS": "false"})
    off.start_one("gateway")
    try:
        off.wait_one("gateway")
        gateways = {"with_log": stack, "without_log": off}
        gens = {k: LoadGen.from_world(g.address("gateway"), world) for k, g in gateways.items()}
        results, cpu = {k: LoadResult() for k in gens}, {k: 0.0 for k in gens}
        for gen in gens.values():
            asyncio.run(gen.closed(1, 1.0))  # warm-up
        for _ in range(rounds):
            for k, gen in gens.items():
                pid = gateways[k].procs["gateway"].pid
                cpu0 = cpu_seconds(pid)
                asyncio.run(gen.closed(1, seconds / rounds, out=results[k]))
                cpu[k] += cpu_seconds(pid) - cpu0
    finally:
        off.stop()
    out = {k: {"p50_ms": r.pct(50), "gateway_cpu_ms_per_request": round(1000 * cpu[k] / max(r.ok, 1), 3),
               "requests": r.ok} for k, r in results.items()}
    out["added_p50_ms"] = round(out["with_log"]["p50_ms"] - out["without_log"]["p50_ms"], 3)
    out["added_cpu_ms_per_request"] = round(out["with_log"]["gateway_cpu_ms_per_request"]
                                            - out["without_log"]["gateway_cpu_ms_per_request"], 3)
    return out


def merge_http(results: Path, http_report: dict, note: str = "") -> dict:
    """The existing results with `http` replaced by this measurement (every other key kept)."""
    report = json.loads(results.read_text()) if results.exists() else {}
    report["http"] = http_report | {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                    "git_commit": _commit(), "cpus": os.cpu_count()} | ({"note": note} if note else {})
    return report


def echo_chain(seconds: float, world: World, concurrencies: tuple[int, ...] = (1, 16)) -> dict[int, dict]:
    """The echo chain at each concurrency: at 1 user its p50 is what the four hops cost with
    no work behind them (the floor of the e2e p50 minus the in-process p50); at 16 its
    throughput is the ceiling of the pipeline's."""
    with EchoChain() as echo:
        gen = LoadGen.from_world(echo.address, world)
        asyncio.run(gen.closed(4, 1.0))  # warm-up
        out = {}
        for c in concurrencies:
            cpu0 = sum(cpu_seconds(p.pid) for p in echo.procs)
            r = asyncio.run(gen.closed(c, seconds))
            cpu = sum(cpu_seconds(p.pid) for p in echo.procs) - cpu0
            out[c] = {"rps": round(r.rps, 1), "p50_ms": r.pct(50), "p99_ms": r.pct(99), "concurrency": c,
                      "cpu_ms_per_request": round(1000 * cpu / max(r.ok, 1), 3)}
        return out


def in_turns(stack: Stack, world: World, metrics_ports: dict[str, int], seconds: float, rounds: int = 4) -> dict:
    """The three sides of the overhead ratios measured in turns, so that the machine's drift
    (a third from one minute to the next here) falls on all of them alike: the stack at 1 and
    16 users, the same work in process (bench/in_process.py) and the echo chain at 1 and 16
    users, `rounds` turns of seconds / rounds each. Answers each side's p50 at one user, CPU
    per request (the stack and the echo chain at 16 users, in process at its own pace) and
    each stage's handler mean at one user. One more phase per round runs the floor's two sides
    interleaved, one same-work request then one echo-chain request: as in the stack, where
    work and hops alternate, each evicts the other's caches (`interleaved_p50_ms`)."""
    users, counts = np.unique(world.impressions["user_id"], return_counts=True)
    slot = seconds / rounds

    async def measure(echo: EchoChain) -> dict:
        gen, egen = LoadGen.from_world(stack.address("gateway"), world), LoadGen.from_world(echo.address, world)
        work = await same_work.SameWork(stack.registry_dir, stack.redis_url, stack.prefix, users,
                                        counts / counts.sum()).open()
        stack_pids = [p.pid for p in stack.procs.values()]
        echo_pids = [p.pid for p in echo.procs]
        res = {k: LoadResult() for k in ("stack_1", "stack_16", "echo_1", "echo_16", "echo_interleaved")}
        cpu = {k: 0.0 for k in res}
        handled = {s: [0.0, 0.0] for s in metrics_ports}  # one-user phases only: (sum ms, count)
        same, same_interleaved = same_work.Timings(), same_work.Timings()

        async def interleaved() -> None:
            # one same-work request, then one echo-chain request, and so on: both sides of the
            # floor paid for each request, as the stack must, each evicting the other's caches
            async with grpc.aio.insecure_channel(echo.address) as channel:
                stub = gateway_pb2_grpc.GatewayServiceStub(channel)
                deadline = time.monotonic() + slot
                while time.monotonic() < deadline:
                    await work.run(same_interleaved, requests=1)
                    await egen.one(stub, res["echo_interleaved"])

        async def phase(name: str, gen: LoadGen, pids: list[int], concurrency: int) -> None:
            before = {s: server_side_ms(port, s) for s, port in metrics_ports.items()} if name == "stack_1" else {}
            cpu0 = sum(cpu_seconds(pid) for pid in pids)
            await gen.closed(concurrency, slot, out=res[name])
            cpu[name] += sum(cpu_seconds(pid) for pid in pids) - cpu0
            for s, (total, count) in before.items():
                after = server_side_ms(metrics_ports[s], s)
                handled[s][0] += after[0] - total
                handled[s][1] += after[1] - count
        try:
            await work.run(same_work.Timings(), 30)  # warm-up
            await egen.closed(4, 1.0)
            for _ in range(rounds):
                await phase("stack_1", gen, stack_pids, 1)
                await work.run(same, seconds=slot)
                await phase("echo_1", egen, echo_pids, 1)
                await interleaved()
                await phase("stack_16", gen, stack_pids, 16)
                await phase("echo_16", egen, echo_pids, 16)
        finally:
            await work.close()
        per_request = {k: round(1000 * cpu[k] / max(r.ok, 1), 3) for k, r in res.items()}
        in_process, interleaved_in_process = same.summary(), same_interleaved.summary()
        return {"rounds": rounds, "seconds": seconds,
                "p50_ms": {"stack": res["stack_1"].pct(50), "in_process": in_process["p50_ms"],
                           "echo": res["echo_1"].pct(50)},
                # the floor's two sides taking turns request by request (`interleaved` above)
                "interleaved_p50_ms": {"in_process": interleaved_in_process["p50_ms"],
                                       "echo": res["echo_interleaved"].pct(50)},
                "interleaved_stages_mean_ms": interleaved_in_process["stages_mean_ms"],
                "stack_1": {"p95_ms": res["stack_1"].pct(95), "p99_ms": res["stack_1"].pct(99),
                            "requests": res["stack_1"].ok},
                "cpu_ms_per_request": {"stack_16": per_request["stack_16"], "echo_16": per_request["echo_16"],
                                       "in_process": in_process["cpu_ms_per_request"],
                                       "stack_1": per_request["stack_1"], "echo_1": per_request["echo_1"]},
                "rps_16": {"stack": round(res["stack_16"].rps, 1), "echo": round(res["echo_16"].rps, 1)},
                "in_process": in_process,
                "stages_server_mean_ms": {s: round(t / max(c, 1), 3) for s, (t, c) in handled.items()},
                "errors": {k: dict(r.codes) for k, r in res.items() if r.sent != r.ok}
                | {f"in_process{k}_degraded": t.degraded for k, t in (("", same), ("_interleaved", same_interleaved))
                   if t.degraded}}
    with EchoChain() as echo:
        return asyncio.run(measure(echo))


def repeated_turns(world_dir: Path, registry: Path, seconds: float, repeats: int) -> dict:
    """`in_turns` `repeats` times on one stack: the spread of the target ratios from one run to
    the next (`--only turns`)."""
    ports = {s: free_port() for s in SERVING_METHODS}

    def measure(stack: Stack, world: World) -> dict:
        runs = []
        for _ in range(repeats):
            t = in_turns(stack, world, ports, seconds)
            p50, cpu, handler = t["p50_ms"], t["cpu_ms_per_request"], t["stages_server_mean_ms"]
            same = t["in_process"]["stages_mean_ms"]
            inter = t["interleaved_p50_ms"]
            floor = inter["in_process"] + inter["echo"]
            runs.append({"e2e_over_inproc_plus_echo": round(p50["stack"] / (p50["in_process"] + p50["echo"]), 3),
                         # the same two sides taking turns request by request, against measured apart
                         "interleaved_over_apart": round(floor / (p50["in_process"] + p50["echo"]), 3),
                         "e2e_over_interleaved": round(p50["stack"] / floor, 3),
                         "cpu_over_inproc_plus_echo": round(cpu["stack_16"] / (cpu["in_process"] + cpu["echo_16"]), 3),
                         "stage_server_over_inproc": {s: round(handler[s] / same[s], 3)
                                                      for s in ("recall", "rank", "rerank")},
                         "stage_server_over_interleaved": {s: round(handler[s] / t["interleaved_stages_mean_ms"][s], 3)
                                                           for s in ("recall", "rank", "rerank")},
                         "p50_ms": p50, "interleaved_p50_ms": inter, "cpu_ms_per_request": cpu})
            print(json.dumps(runs[-1]), flush=True)
        return {"repeats": repeats, "seconds": seconds, "runs": runs,
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "git_commit": _commit()}
    return run_on_stack(world_dir, registry, measure, ports)


def run(world_dir: Path, registry: Path, seconds: float) -> dict:
    world = World.load(world_dir)
    local = ensure_redis("redis://127.0.0.1:6379/0")
    prefix = f"bench-e2e-{uuid.uuid4().hex[:6]}"
    report: dict = {}
    try:
        bootstrap(world_dir, registry, local.url, prefix, progress=False, say=lambda *_: None)
        metrics_ports = {s: free_port() for s in SERVING_METHODS}
        env = {f"{s.upper()}_METRICS_PORT": str(p) for s, p in metrics_ports.items()}
        with Stack(registry, local.url, prefix, Path("run/bench-logs"), env=env) as stack:
            wait_healthy(stack.address("gateway"), 60)
            gen = LoadGen.from_world(stack.address("gateway"), world)
            asyncio.run(gen.closed(4, 2.0))  # warm-up
            closed = {}
            for c in CONCURRENCY:
                pids = {n: p.pid for n, p in stack.procs.items()}
                cpu0 = {n: cpu_seconds(pid) for n, pid in pids.items()}
                out = asyncio.run(gen.closed(c, seconds))
                cpu = {n: cpu_seconds(pid) - cpu0[n] for n, pid in pids.items()}
                closed[c] = out.summary() | {"cpu_ms_per_request": round(1000 * sum(cpu.values()) / max(out.ok, 1), 2),
                                             "cpu_ms_per_request_by_service": {
                                                 n: round(1000 * v / max(out.ok, 1), 2) for n, v in cpu.items()}}
                print(json.dumps({f"closed_{c}": {k: closed[c][k] for k in ("p50_ms", "p99_ms", "rps")}}), flush=True)
            capacity = max(v["rps"] for v in closed.values())
            opened = {}
            for share in OPEN_SHARES:
                out = asyncio.run(gen.open(share * capacity, seconds))
                opened[f"{int(share * 100)}%"] = out.summary() | {"offered_rps": round(share * capacity, 1)}
            rss = {n: rss_mb(p.pid) for n, p in stack.procs.items()}
            report["http"] = http_vs_grpc(stack, world.users["user_id"])
            print(json.dumps({"http": report["http"]}), flush=True)
            report["impression_log"] = impression_log_cost(stack, world, seconds)
            print(json.dumps({"impression_log": report["impression_log"]}), flush=True)
            turns = in_turns(stack, world, metrics_ports, 2 * seconds)
            print(json.dumps({"in_turns": {k: turns[k] for k in ("p50_ms", "cpu_ms_per_request")}}), flush=True)
        inproc = asyncio.run(in_process(world, registry, local.url, prefix))

        turn = iter(range(1 << 30))

        async def idle_every_other() -> str:
            """What a stage does between two requests of one user in the stack (idles while the
            others work) before every other request: hot and idle timings from one run, so
            that the machine's drift falls on both alike."""
            if next(turn) % 2:
                return "none"
            await asyncio.sleep(IDLE_BETWEEN_S)
            return "sleep"
        by_gap = asyncio.run(in_process(world, registry, local.url, prefix, 600,
                                        between=idle_every_other))["stages_mean_ms_by_gap"]
        echo = echo_chain(seconds, world)
    finally:
        drop_prefix(local.url, prefix)
        local.stop()
    one, busy = closed[1], closed[16]
    # The target ratios come from `turns` (in_turns): the stack, the same work in process and
    # the echo chain measured in turns within a minute, so that the machine's drift cancels.
    # The in-process baseline is the same work as the stack (bench/in_process.py: the gateway's
    # pipeline over local stages); `inproc_steps_*` is the older loop of the funnel's steps
    # alone (no gateway glue, no session rules in rerank), measured after the stack, kept
    # for comparison with earlier runs.
    e2e, same_p50, echo_p50 = (turns["p50_ms"][k] for k in ("stack", "in_process", "echo"))
    tcpu = turns["cpu_ms_per_request"]
    same = turns["in_process"]
    server_mean = turns["stages_server_mean_ms"]
    report.update({
        "e2e_p50_ms": e2e, "e2e_p95_ms": turns["stack_1"]["p95_ms"], "e2e_p99_ms": turns["stack_1"]["p99_ms"],
        "e2e_rps": capacity, "e2e_p99_ms_at_16": busy["p99_ms"], "in_turns": turns,
        "inproc_p50_ms": same_p50, "overhead_ratio": round(e2e / same_p50, 3),
        "inproc_steps_p50_ms": inproc["p50_ms"],
        "echo_chain_rps": echo[16]["rps"], "throughput_ratio": round(capacity / echo[16]["rps"], 3),
        # The best overhead ratio these four Python gRPC hops allow here: the in-process work
        # plus what the echo chain costs one user with no work at all.
        "echo_chain_p50_ms_c1": echo_p50,
        "overhead_ratio_floor": round((same_p50 + echo_p50) / same_p50, 3),
        "e2e_over_inproc_plus_echo": round(e2e / (same_p50 + echo_p50), 3),
        "e2e_over_steps_plus_echo": round(one["p50_ms"] / (inproc["p50_ms"] + echo[1]["p50_ms"]), 3),
        "cpu_ms_per_request": tcpu["stack_16"], "rss_mb": rss,
        # the floor of CPU per request: the same work in process plus what the four hops cost
        # with no work (in process at its own pace; the stack and the echo chain at 16 users)
        "inproc_cpu_ms_per_request": tcpu["in_process"],
        "inproc_steps_cpu_ms_per_request": inproc["cpu_ms_per_request"],
        "echo_chain_cpu_ms_per_request": tcpu["echo_16"],
        "cpu_over_inproc_plus_echo": round(tcpu["stack_16"] / (tcpu["in_process"] + tcpu["echo_16"]), 3),
        "cpu_over_steps_plus_echo": round(busy["cpu_ms_per_request"]
                                          / (inproc["cpu_ms_per_request"] + echo[16]["cpu_ms_per_request"]), 3),
        "stages_p50_ms": one["stages_p50_ms"], "inproc": same, "inproc_steps": inproc,
        "inproc_stages_mean_ms": {"same_work": same["stages_mean_ms"], "hot": by_gap["none"],
                                  "idle": by_gap["sleep"]},
        # Each stage's handler as a service (its own histogram, one user, in turns) over the same
        # stage in the same-work pipeline (in turns), and over the bare step run back to back
        # ("hot") and after IDLE_BETWEEN_S idle ("idle": the stack's condition at one user,
        # where every stage waits while the others work), measured after the stack.
        "stages_server_mean_ms": server_mean,
        "stage_server_over_inproc": {s: round(server_mean[s] / same["stages_mean_ms"][s], 3)
                                     for s in ("recall", "rank", "rerank")},
        "stage_server_over_inproc_steps": {s: round(server_mean[s] / by_gap["none"][s], 3)
                                           for s in ("recall", "rank", "rerank")},
        "stage_server_over_inproc_idle": {s: round(server_mean[s] / by_gap["sleep"][s], 3)
                                          for s in ("recall", "rank", "rerank")},
        "echo_chain": {str(c): v for c, v in echo.items()},
        "closed_loop": {str(c): v for c, v in closed.items()}, "open_loop": opened,
    })
    return report


def catalog_scaling(world_dir: Path, registry: Path, sizes: list[int], seconds: float, rounds: int = 4) -> dict:
    """One stack per catalog size, all up at once, measured in turns (`rounds` phases of
    seconds / rounds each): the machine's drift over minutes falls on every size alike, so
    the sizes' ratios hold within one run."""
    import contextlib
    import shutil
    import tempfile

    from bench.recall import scaled_registry
    world = World.load(world_dir)
    local = ensure_redis("redis://127.0.0.1:6379/0")
    works = {n: Path(tempfile.mkdtemp(prefix=f"bench-catalog-{n}-")) for n in sizes}
    prefixes = {n: f"bench-cat-{uuid.uuid4().hex[:6]}" for n in sizes}
    ports = {n: free_port() for n in sizes}
    out = {}
    try:
        with contextlib.ExitStack() as stacks:
            gens, results, before, procs = {}, {}, {}, {}
            for n in sizes:
                scaled_registry(Registry(registry), works[n], n, with_rank=True)
                bootstrap(world_dir, works[n], local.url, prefixes[n], progress=False, say=lambda *_: None)
                stack = stacks.enter_context(Stack(works[n], local.url, prefixes[n], works[n] / "logs",
                                                   env={"RECALL_METRICS_PORT": str(ports[n])}))
                procs[n] = stack.procs
                gens[n] = LoadGen.from_world(stack.address("gateway"), world)
                asyncio.run(gens[n].closed(1, 1.0))  # warm-up
            for n in sizes:
                results[n], before[n] = LoadResult(), server_side_ms(ports[n], "recall")
            for _ in range(rounds):
                for n in sizes:
                    asyncio.run(gens[n].closed(1, seconds / rounds, out=results[n]))
            for n in sizes:
                res, s = results[n], results[n].summary()
                out[str(n)] = {"e2e_p50_ms": s["p50_ms"], "e2e_p99_ms": s["p99_ms"],
                               **{f"{k}_p99_ms": s["stages_p99_ms"].get(k) for k in ("recall", "rank", "rerank")},
                               # the recall stage as the gateway sees it against the service's own
                               # handler time (the difference: the hop and the 1,000 candidates' bytes)
                               "recall_mean_ms": round(float(np.mean(res.stage_ms.get("recall", [np.nan]))), 3),
                               "recall_server_mean_ms": mean_ms(before[n], server_side_ms(ports[n], "recall")),
                               "rss_mb": {name: rss_mb(p.pid) for name, p in procs[n].items()},
                               "requests": s["sent"], "errors": s["errors_by_code"], "degraded": s["degraded"]}
                print(json.dumps({f"catalog_{n}": out[str(n)]}), flush=True)
    finally:
        for n in sizes:
            drop_prefix(local.url, prefixes[n])
            shutil.rmtree(works[n], ignore_errors=True)
        local.stop()
    return out


def merge_results(report: dict, results: Path) -> dict:
    """Add the micro-benchmarks' headline numbers and the catalog scaling already measured."""
    def load(name):
        path = results / name
        return json.loads(path.read_text()) if path.exists() else {}
    rank, rerank, recall = load("rank.json"), load("rerank.json"), load("recall.json")
    if rank:
        report["rank_inproc_p50_ms_200"] = rank.get("in_process", {}).get("ranker_run_200", {}).get("p50_ms")
    if rerank:
        report["rerank_inproc_p99_ms_200to20"] = rerank.get("rerank_inproc_p99_ms_200to20")
    if "catalog" not in report:  # not measured in this run: recall alone, from bench/recall.py
        report["catalog"] = {n: {"recall_p99_ms": c["service"]["p99_ms"], "rss_mb": {"recall": c["service"]["rss_mb"]},
                                 "e2e_p99_ms": None, "rank_p99_ms": None, "rerank_p99_ms": None}
                             for n, c in recall.get("catalog", {}).items()}
    report["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform}
    report["git_commit"] = _commit()
    return report


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=ROOT).stdout.strip()
    except OSError:
        return ""


def write(report: dict, out: Path, plot: bool = True) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    if "closed_loop" not in report:  # only a partial run measured so far: no table to write
        return
    lines = ["| measure | value | target |", "|---|---:|---|",
             f"| e2e p50 / p95 / p99, one user | {report['e2e_p50_ms']:.1f} / {report['e2e_p95_ms']:.1f} / "
             f"{report['e2e_p99_ms']:.1f} ms | |",
             f"| throughput (best closed loop) | {report['e2e_rps']:.0f} rps | |",
             f"| in-process: the same work in one process (the gateway's pipeline over local stages) p50 | "
             f"{report['inproc_p50_ms']:.1f} ms | |",
             f"| in-process: the funnel's steps alone (no gateway glue) p50 | "
             f"{report.get('inproc_steps_p50_ms', float('nan')):.1f} ms | |",
             f"| overhead ratio (e2e p50 / in-process p50) | {report['overhead_ratio']:.2f} | ≤ 1.3 |",
             f"| echo chain p50, one user (4 hops, no work) | {report['echo_chain_p50_ms_c1']:.2f} ms | |",
             f"| best ratio the hops allow ((in-process + echo) / in-process) | "
             f"{report['overhead_ratio_floor']:.2f} | |",
             f"| echo chain (same 4 hops, no work) | {report['echo_chain_rps']:.0f} rps | |",
             f"| throughput ratio (pipeline / echo) | {report['throughput_ratio']:.2f} | |",
             f"| CPU per request (4 services, 16 users) | {report['cpu_ms_per_request']:.1f} ms | |"]
    if report.get("cpu_over_inproc_plus_echo") is not None:
        lines.append(f"| CPU per request / (in-process {report['inproc_cpu_ms_per_request']:.1f} + echo chain "
                     f"{report['echo_chain_cpu_ms_per_request']:.1f} ms) | {report['cpu_over_inproc_plus_echo']:.2f} "
                     f"| ≤ 1.3 |")
    if report.get("e2e_over_inproc_plus_echo") is not None:
        lines.append(f"| e2e p50 / (in-process p50 + echo p50) | {report['e2e_over_inproc_plus_echo']:.2f} | ≤ 1.2 |")
    if report.get("in_turns_repeated"):
        rep = report["in_turns_repeated"]["runs"]

        def spread(values: list[float]) -> str:
            return f"{min(values):.2f} / {float(np.median(values)):.2f} / {max(values):.2f}"
        lines.append(f"| the same ratios over {len(rep)} more in-turns runs on one stack (min / median / max): "
                     "e2e; CPU; recall, rank, rerank handlers | "
                     f"{spread([r['e2e_over_inproc_plus_echo'] for r in rep])}; "
                     f"{spread([r['cpu_over_inproc_plus_echo'] for r in rep])}; "
                     + "; ".join(spread([r["stage_server_over_inproc"][s] for r in rep])
                                 for s in ("recall", "rank", "rerank")) + " | |")
    if report.get("e2e_over_steps_plus_echo") is not None:
        lines.append(f"| the same against the steps alone: e2e / (steps + echo); CPU / (steps + echo) | "
                     f"{report['e2e_over_steps_plus_echo']:.2f}; {report['cpu_over_steps_plus_echo']:.2f} | |")
    if report.get("stages_server_mean_ms"):
        means = report["inproc_stages_mean_ms"]
        same, hot, idle = means.get("same_work", means["hot"]), means["hot"], means["idle"]
        steps = report.get("stage_server_over_inproc_steps", report["stage_server_over_inproc"])
        for s in ("recall", "rank", "rerank"):
            lines.append(f"| {s}: handler mean as a service / in process (same work; bare step hot; after "
                         f"{IDLE_BETWEEN_S * 1000:.0f} ms idle) | {report['stages_server_mean_ms'][s]:.2f} / "
                         f"{same[s]:.2f}; {hot[s]:.2f}; {idle[s]:.2f} ms = "
                         f"{report['stage_server_over_inproc'][s]:.2f}; {steps[s]:.2f}; "
                         f"{report['stage_server_over_inproc_idle'][s]:.2f} | ≤ 1.2 |")
    if report.get("http"):
        h = report["http"]
        lines.append(f"| Recommend (10 items) p50: HTTP/JSON / gRPC | {h['http_p50_ms']:.1f} / "
                     f"{h['grpc_p50_ms']:.1f} ms = {h['http_over_grpc_p50']:.2f} | ≤ 1.5 |")
    if report.get("impression_log"):
        imp = report["impression_log"]
        lines.append(f"| impression log: Recommend p50 with / without it (gateways in turns) | "
                     f"{imp['with_log']['p50_ms']:.2f} / {imp['without_log']['p50_ms']:.2f} ms = "
                     f"{imp['added_p50_ms']:+.2f} ms ({imp['added_cpu_ms_per_request']:+.2f} CPU-ms) | ≤ +0.3 ms |")
    if report.get("rank_inproc_p50_ms_200") is not None:
        lines.append(f"| ranker alone, 200 candidates, p50 | {report['rank_inproc_p50_ms_200']:.2f} ms | ≤ 3 ms |")
    if report.get("rerank_inproc_p99_ms_200to20") is not None:
        lines.append(f"| rerank DPP 200 → 20, p99 | {report['rerank_inproc_p99_ms_200to20']:.2f} ms | ≤ 2 ms |")
    if report.get("catalog"):
        lines += ["", "| videos | e2e p99 ms | recall p99 | recall mean: gateway's view / service's handler | "
                  "rank p99 | rerank p99 | RSS MB (gateway / recall / rank / rerank) |",
                  "|---:|---:|---:|---:|---:|---:|---|"]
        fmt = lambda v: "–" if v is None else f"{v:.1f}"  # noqa: E731
        for n, c in report["catalog"].items():
            rss = c.get("rss_mb", {})
            lines.append(f"| {int(n):,} | {fmt(c.get('e2e_p99_ms'))} | {fmt(c.get('recall_p99_ms'))} | "
                         f"{fmt(c.get('recall_mean_ms'))} / {fmt(c.get('recall_server_mean_ms'))} | "
                         f"{fmt(c.get('rank_p99_ms'))} | {fmt(c.get('rerank_p99_ms'))} | "
                         + " / ".join(fmt(rss.get(s)) for s in ("gateway", "recall", "rank", "rerank")) + " |")
    lines += ["", "| concurrency | p50 ms | p99 ms | rps | CPU-ms / request |", "|---:|---:|---:|---:|---:|"]
    for c, v in report["closed_loop"].items():
        lines.append(f"| {c} | {v['p50_ms']:.1f} | {v['p99_ms']:.1f} | {v['rps']:.0f} | "
                     f"{v['cpu_ms_per_request']:.1f} |")
    lines += ["", "| open loop | offered rps | p50 ms | p99 ms | errors |", "|---|---:|---:|---:|---|"]
    for k, v in report["open_loop"].items():
        lines.append(f"| {k} of capacity | {v['offered_rps']:.0f} | {v['p50_ms']:.1f} | {v['p99_ms']:.1f} | "
                     f"{v['errors_by_code'] or 'none'} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    if not plot:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    cs = list(report["closed_loop"])
    a.plot([report["closed_loop"][c]["rps"] for c in cs], [report["closed_loop"][c]["p99_ms"] for c in cs], "o-",
           label="p99")
    a.plot([report["closed_loop"][c]["rps"] for c in cs], [report["closed_loop"][c]["p50_ms"] for c in cs], "s-",
           label="p50")
    a.set_xlabel("throughput, rps (closed loop 1 / 4 / 16 users)")
    a.set_ylabel("latency, ms")
    a.legend()
    st = report["stages_p50_ms"]
    b.bar(list(st), list(st.values()))
    b.set_ylabel("p50 ms (one user)")
    b.set_title("per stage")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.split("\n")[0])
    p.add_argument("--world", type=Path, default=Path(os.environ.get("WORLD_DIR", "data/world")))
    p.add_argument("--registry", type=Path, default=Path(os.environ.get("REGISTRY_DIR", "models")))
    p.add_argument("--seconds", type=float, default=8.0, help="per load phase")
    p.add_argument("--catalog-sizes", default="10000,100000,1000000",
                   help="catalog sizes for the scaling runs, comma-separated ('' to skip)")
    p.add_argument("--out", type=Path, default=Path("bench/results/latest.json"))
    p.add_argument("--only", choices=["http", "catalog", "impressions", "turns"],
                   help="run one part alone and merge it into --out: http = HTTP/JSON vs gRPC Recommend p50, "
                        "catalog = the catalog scaling runs, impressions = what the impression log adds, "
                        "turns = the in-turns target ratios --repeats times on one stack")
    p.add_argument("--repeats", type=int, default=5, help="--only turns: how many in-turns measurements")
    p.add_argument("--requests", type=int, default=300, help="--only http: requests per edge (after 20 warm-up)")
    p.add_argument("--note", default="", help="--only http: a note kept with the measurement (e.g. the machine's load)")
    args = p.parse_args(argv)
    if args.requests < 1:
        p.error(f"--requests {args.requests}: must be >= 1")
    if args.repeats < 1:
        p.error(f"--repeats {args.repeats}: must be >= 1")
    try:
        sizes = [int(x) for x in args.catalog_sizes.split(",") if x.strip()]
    except ValueError:
        p.error(f"--catalog-sizes {args.catalog_sizes!r}: expected integers separated by commas")
    if not (args.world / "world.json").exists():
        p.error(f"--world {args.world}: no world here (run `make world`)")
    if not (args.registry / "ranker" / "aliases.json").exists():
        p.error(f"--registry {args.registry}: no live models (run `make train`)")
    if args.only == "http":
        http_report = run_http_only(args.world, args.registry, args.requests)
        print(json.dumps({"http": http_report}), flush=True)
        write(merge_http(args.out, http_report, args.note), args.out, plot=False)
        return 0
    if args.only == "impressions":
        report = json.loads(args.out.read_text()) if args.out.exists() else {}
        report["impression_log"] = run_on_stack(args.world, args.registry,
                                                lambda stack, world: impression_log_cost(stack, world, args.seconds))
        write(report, args.out, plot=False)
        print(json.dumps({"impression_log": report["impression_log"]}))
        return 0
    if args.only == "turns":
        report = json.loads(args.out.read_text()) if args.out.exists() else {}
        report["in_turns_repeated"] = repeated_turns(args.world, args.registry, 2 * args.seconds, args.repeats)
        write(report, args.out, plot=False)
        return 0
    if args.only == "catalog":
        report = json.loads(args.out.read_text()) if args.out.exists() else {}
        report["catalog"] = catalog_scaling(args.world, args.registry, sizes, args.seconds)
        write(report, args.out, plot=False)
        print(args.out.with_suffix(".md").read_text())
        return 0
    report = run(args.world, args.registry, args.seconds)
    if sizes:
        report["catalog"] = catalog_scaling(args.world, args.registry, sizes, args.seconds)
    report = merge_results(report, args.out.parent)
    write(report, args.out)
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
