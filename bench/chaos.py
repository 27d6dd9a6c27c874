"""`make chaos`: faults under steady load, and what the clients saw. Writes bench/results/chaos.json.

    python -m bench.chaos [--scenarios kill_recall,redis_down,...] [--quick] [--out FILE]

The stack runs on its own durable Redis (append-only file, fsync on every write, so an event
the gateway acknowledged survives a Redis crash) and its own copy of the model registry.
Each scenario runs a closed-loop load (users from the world, a ReportEvents batch after a
share of the feeds, every event id unique) while the fault happens:

* kill_recall / kill_rank / kill_rerank: kill -9 the service, wait, start it again;
* redis_down: kill -9 Redis, wait, start it again on the same files;
* latency_injection: a proxy in front of rank holds every byte for longer than rank's budget;
* model_swaps: 10 ranker promotions through the admin API, then one corrupt version (refused);
* overload: an open loop at 5x the capacity measured just before;
* fuzz: 10,000 random and mutated request bodies to every gateway method.

Reported per scenario: sent, ok, errors_by_code, degraded, events_acked, events_found (read
back: the idempotency marker and the stream entry both present), events_lost, recovery_s
(restart -> first non-degraded answer) and the goals checked. Goals: no client errors but
RESOURCE_EXHAUSTED under overload (and UNAVAILABLE for events while Redis is down), no
INTERNAL, nothing acknowledged lost, recovery within 5 s.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import grpc
import redis
from recsys.v1 import catalog_pb2, common_pb2, gateway_pb2, gateway_pb2_grpc, model_admin_pb2, model_admin_pb2_grpc

from bench.loadgen import LoadGen, LoadResult
from core.registry.reader import Registry
from core.store import durability
from core.store.events import stored_events
from core.store.keys import Keys
from dev.redis_server import answers, free_port
from dev.stack import Stack, bootstrap
from services.common.admin_auth import admin_channel
from training.publish import copy_version
from training.ranker_version import train_and_publish
from training.world import World

SCENARIOS = ("kill_recall", "kill_rank", "kill_rerank", "redis_down", "latency_injection", "model_swaps",
             "overload", "fuzz")
RECOVERY_GOAL_S = 5.0
# The second architecture of the swap scenario trains on a slice of the rows for one epoch:
# the scenario tests swapping, not quality, and must not spend minutes training.
SWAP_TRAIN_ROWS = 20_000


# ---- the environment ---------------------------------------------------------------------------
class DurableRedis:
    """redis-server on a fixed port with the durable configuration (core/store/durability.py);
    can crash and return."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", *durability.server_args(), "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not answers(self.url):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("redis-server did not start (is it installed?)")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class DelayProxy:
    """A TCP proxy (own thread and event loop) that can hold traffic for `delay_s` per chunk."""

    def __init__(self, target_port: int):
        self.target_port, self.port, self.delay_s = target_port, free_port(), 0.0
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(timeout=10)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _serve(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _client(self, reader, writer) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer))


class Env:
    def __init__(self, world_dir: Path, registry_dir: Path, work: Path):
        self.work = work
        self.registry = work / "models"
        for name in ("two_tower", "item_cf", "ranker", "prerank"):
            shutil.copytree(registry_dir / name, self.registry / name)
        self.redis = DurableRedis(work / "redis")
        (work / "redis").mkdir()
        self.redis.start()
        self.prefix = f"chaos-{uuid.uuid4().hex[:6]}"
        self.world = World.load(world_dir)
        bootstrap(world_dir, self.registry, self.redis.url, self.prefix, progress=False, say=lambda *_: None)
        ports = {"rank": free_port()}
        self.proxy = DelayProxy(ports["rank"])
        self.stack = Stack(self.registry, self.redis.url, self.prefix, work / "logs", ports=ports,
                           env={"GATEWAY_RANK_ADDR": self.proxy.address})
        self.stack.start()
        self.gateway = self.stack.address("gateway")

    def close(self) -> None:
        self.stack.stop()
        self.redis.kill()

    def load(self, seed: int = 0, event_share: float = 0.5) -> LoadGen:
        return LoadGen.from_world(self.gateway, self.world, event_share=event_share, seed=seed, count=20)

    def probe_clean(self) -> bool:
        try:
            with grpc.insecure_channel(self.gateway) as ch:
                reply = gateway_pb2_grpc.GatewayServiceStub(ch).Recommend(
                    gateway_pb2.RecommendRequest(user_id=3, count=10), timeout=2)
            return not reply.degraded
        except grpc.RpcError:
            return False

    def wait_clean(self, since: float, limit_s: float = 30.0) -> float:
        """Seconds from `since` until the first non-degraded answer (inf when none in limit_s)."""
        while time.monotonic() - since < limit_s:
            if self.probe_clean():
                return round(time.monotonic() - since, 2)
            time.sleep(0.1)
        return float("inf")

    def events_found(self, ids: list[str]) -> int:
        """Acknowledged ids whose marker and stream entry are both in Redis."""
        client = redis.Redis.from_url(self.redis.url)
        keys = Keys(self.prefix)
        try:
            in_stream = {f.get(b"event_id", b"").decode() for f in stored_events(client, keys)}
            pipe = client.pipeline(transaction=False)
            for i in ids:
                pipe.exists(keys.event_marker(i))
            marked = pipe.execute()
        finally:
            client.close()
        return sum(1 for i, m in zip(ids, marked) if m and i in in_stream)


# ---- running a scenario under load --------------------------------------------------------
def under_load(env: Env, seconds: float, fault, concurrency: int = 4, seed: int = 0) -> tuple[LoadResult, dict]:
    out = LoadResult()
    gen = env.load(seed)
    thread = threading.Thread(target=lambda: asyncio.run(gen.closed(concurrency, seconds, out=out)))
    thread.start()
    time.sleep(min(1.0, seconds / 4))
    extra = fault() or {}
    thread.join()
    return out, extra


def report(env: Env, out: LoadResult, extra: dict, allowed: set[str] = frozenset(),
           allowed_event_codes: set[str] = frozenset()) -> dict:
    found = env.events_found(out.events_acked)
    errors = {c: n for c, n in out.codes.items() if c != "OK"}
    event_errors = {c: n for c, n in out.event_codes.items() if c != "OK"}
    doc = {"sent": out.sent, "ok": out.ok, "errors_by_code": errors, "degraded": out.degraded,
           "events_sent": out.events_sent, "event_errors_by_code": event_errors,
           "events_acked": len(out.events_acked), "events_found": found, "events_lost": len(out.events_acked) - found,
           "p50_ms": out.pct(50), "p99_ms": out.pct(99), **extra}
    problems = [f"client errors {c}" for c in errors if c not in allowed]
    problems += [f"event errors {c}" for c in event_errors if c not in allowed_event_codes]
    if doc["events_lost"]:
        problems.append(f"{doc['events_lost']} acknowledged events lost")
    if "recovery_s" in doc and not doc["recovery_s"] <= RECOVERY_GOAL_S:
        problems.append(f"recovery {doc['recovery_s']} s > {RECOVERY_GOAL_S} s")
    doc["passed"], doc["problems"] = not problems, problems
    return doc


def kill_service(env: Env, name: str, seconds: float) -> dict:
    def fault():
        env.stack.procs[name].kill()
        env.stack.procs[name].wait()
        time.sleep(seconds / 4)
        restarted = time.monotonic()
        env.stack.start_one(name)
        env.stack.wait_one(name)
        return {"down_s": round(seconds / 4, 1), "recovery_s": env.wait_clean(restarted)}
    out, extra = under_load(env, seconds, fault)
    return report(env, out, extra)


def redis_down(env: Env, seconds: float) -> dict:
    def fault():
        env.redis.kill()
        time.sleep(seconds / 4)
        restarted = time.monotonic()
        env.redis.start()
        return {"down_s": round(seconds / 4, 1), "recovery_s": env.wait_clean(restarted)}
    out, extra = under_load(env, seconds, fault)
    return report(env, out, extra, allowed_event_codes={"UNAVAILABLE"})


def latency_injection(env: Env, seconds: float, delay_s: float = 0.4) -> dict:
    def fault():
        env.proxy.delay_s = delay_s
        time.sleep(seconds / 3)
        env.proxy.delay_s = 0.0
        healed = time.monotonic()
        return {"injected_ms": delay_s * 1000, "target": "rank", "recovery_s": env.wait_clean(healed)}
    out, extra = under_load(env, seconds, fault)
    return report(env, out, extra)


def model_swaps(env: Env, seconds: float) -> dict:
    """Swaps between two architectures (the live one and PLE, or DCN-v2 when PLE is live),
    then a corrupt version that must be refused."""
    reg = Registry(env.registry)
    live = reg.open("ranker")
    other = "dcn_v2" if live.manifest.get("architecture") == "ple" else "ple"
    v2 = train_and_publish(env.registry, env.world, other, max_rows=SWAP_TRAIN_ROWS)
    v1, bad = live.version, copy_version(env.registry, live)
    (env.registry / "ranker" / bad / "model.onnx").write_bytes(b"corrupt")

    def fault():
        with admin_channel(env.stack.admin_address(), env.stack.admin_token) as ch:
            admin = model_admin_pb2_grpc.ModelAdminServiceStub(ch)
            for i in range(10):
                admin.Promote(model_admin_pb2.PromoteRequest(model=common_pb2.ModelRef(
                    name="ranker", version=v2 if i % 2 == 0 else v1)), timeout=60)
                time.sleep(seconds / 14)
            try:
                admin.Promote(model_admin_pb2.PromoteRequest(model=common_pb2.ModelRef(name="ranker", version=bad)),
                              timeout=60)
                refused = ""
            except grpc.RpcError as err:
                refused = err.code().name
        return {"swaps": 10, "architectures": [live.manifest.get("architecture", "din"), other],
                "corrupt_version_refused_with": refused}
    out, extra = under_load(env, seconds, fault)
    doc = report(env, out, extra)
    if not extra.get("corrupt_version_refused_with"):
        doc["passed"] = False
        doc["problems"].append("the corrupt version was accepted")
    return doc


def overload(env: Env, seconds: float, factor: float = 5.0) -> dict:
    gen = env.load(seed=1, event_share=0.0)
    capacity = asyncio.run(gen.closed(8, max(2.0, seconds / 3))).rps
    out = LoadResult()
    asyncio.run(env.load(seed=2, event_share=0.2).open(factor * capacity, seconds, out=out))
    shed = out.codes.get("RESOURCE_EXHAUSTED", 0)
    doc = report(env, out, {"capacity_rps": round(capacity, 1), "offered_rps": round(factor * capacity, 1),
                            "shed": shed, "recovery_s": env.wait_clean(time.monotonic())},
                 allowed={"RESOURCE_EXHAUSTED"}, allowed_event_codes={"RESOURCE_EXHAUSTED"})
    return doc


def _mutations(valid: list[bytes], rng: random.Random):
    while True:
        kind = rng.random()
        if kind < 0.3:
            yield bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
        else:
            b = bytearray(rng.choice(valid))
            for _ in range(rng.randint(1, 4)):
                if b and rng.random() < 0.7:
                    b[rng.randrange(len(b))] = rng.getrandbits(8)
                else:
                    b[rng.randrange(len(b) + 1):rng.randrange(len(b) + 1)] = bytes([rng.getrandbits(8)])
            yield bytes(b)


def fuzz(env: Env, n: int = 10_000, seed: int = 0) -> dict:
    rng = random.Random(seed)
    valid = {
        "Recommend": [gateway_pb2.RecommendRequest(user_id=3, count=10, context={"device": "ios"}).SerializeToString()],
        "ReportEvents": [gateway_pb2.ReportEventsRequest(events=[common_pb2.Event(
            event_id="fuzz-seed", user_id=3, item_id=5, type=common_pb2.EVENT_TYPE_LIKE)]).SerializeToString()],
        "Explain": [gateway_pb2.ExplainRequest(user_id=3, item_id=5, count=10).SerializeToString()],
        # The catalog's writes too (every public method of the gateway's port); ids far above
        # the world's, so a mutation rarely takes down a video the other scenarios serve.
        "PublishItem": [catalog_pb2.PublishItemRequest(item_id=900_000_001, author_id=3, category=2,
                                                       duration_s=12.0).SerializeToString()],
        "RemoveItem": [catalog_pb2.RemoveItemRequest(item_id=900_000_002, reason="fuzz").SerializeToString()],
    }
    paths = {m: f"/recsys.v1.{'CatalogService' if m in ('PublishItem', 'RemoveItem') else 'GatewayService'}/{m}"
             for m in valid}
    gens = {m: _mutations(v, rng) for m, v in valid.items()}
    codes: Counter = Counter()

    async def run():
        async with grpc.aio.insecure_channel(env.gateway) as ch:
            calls = {m: ch.unary_unary(path) for m, path in paths.items()}
            sem = asyncio.Semaphore(16)

            async def one(method: str, body: bytes):
                async with sem:
                    try:
                        await calls[method](body, timeout=5)
                        codes["OK"] += 1
                    except grpc.RpcError as err:
                        codes[err.code().name] += 1
            methods = sorted(valid)
            await asyncio.gather(*(one(m, next(gens[m])) for m in (rng.choice(methods) for _ in range(n))))
    start = time.monotonic()
    asyncio.run(run())
    bad = {c: k for c, k in codes.items() if c in ("INTERNAL", "UNKNOWN", "DATA_LOSS")}
    return {"sent": n, "ok": codes.get("OK", 0), "errors_by_code": {c: k for c, k in codes.items() if c != "OK"},
            "degraded": 0, "events_acked": 0, "events_found": 0, "events_lost": 0,
            "seconds": round(time.monotonic() - start, 1), "passed": not bad,
            "problems": [f"{k} answers with {c}" for c, k in bad.items()]}


def run(world_dir: Path, registry_dir: Path, scenarios: list[str], quick: bool = False) -> dict:
    seconds = 6.0 if quick else 12.0
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    env = Env(world_dir, registry_dir, work)
    results = {}
    try:
        for name in scenarios:
            t = time.monotonic()
            if name.startswith("kill_"):
                results[name] = kill_service(env, name.removeprefix("kill_"), seconds)
            elif name == "redis_down":
                results[name] = redis_down(env, seconds)
            elif name == "latency_injection":
                results[name] = latency_injection(env, seconds)
            elif name == "model_swaps":
                results[name] = model_swaps(env, seconds)
            elif name == "overload":
                results[name] = overload(env, seconds / 2)
            elif name == "fuzz":
                results[name] = fuzz(env, 1000 if quick else 10_000)
            results[name]["scenario_s"] = round(time.monotonic() - t, 1)
            print(json.dumps({name: {k: results[name][k] for k in ("sent", "ok", "errors_by_code", "passed")}}),
                  flush=True)
    finally:
        env.close()
        shutil.rmtree(work, ignore_errors=True)
    return {"scenarios": results, "passed": all(r["passed"] for r in results.values()),
            "quick": quick, "machine": {"cpus": os.cpu_count()}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n")[0])
    p.add_argument("--world", type=Path, default=Path(os.environ.get("WORLD_DIR", "data/world")))
    p.add_argument("--registry", type=Path, default=Path(os.environ.get("REGISTRY_DIR", "models")))
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--quick", action="store_true", help="shorter load phases, 1,000 fuzzed requests")
    p.add_argument("--out", type=Path, default=Path("bench/results/chaos.json"))
    args = p.parse_args(argv)
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown:
        p.error(f"--scenarios: unknown {unknown}; known: {', '.join(SCENARIOS)}")
    if not (args.registry / "ranker" / "aliases.json").exists():
        p.error(f"--registry {args.registry}: no live models (run `make train`)")
    if not shutil.which("redis-server"):
        p.error("chaos needs redis-server on PATH (its own durable Redis, killed and restarted)")
    result = run(args.world, args.registry, names, args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps({n: {"passed": r["passed"], "problems": r["problems"]} for n, r in result["scenarios"].items()},
                     indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
