"""The echo chain: the same four hops as the pipeline (client -> gateway -> recall, rank,
rerank), each a separate process on the same gRPC stack (grpc.aio, loopback), doing no work
and without the services' interceptor (a health service answers readiness checks only):
the backends answer canned messages of the real sizes (1000 recalled candidates, 50 ranked,
20 reranked) and the gateway calls them one after the other and answers 20 items. Its
throughput is the ceiling for the real pipeline's on this machine (`bench/e2e.py` reports the
ratio).

    python -m bench.echo --role {gateway,recall,rank,rerank} --port P [--recall ADDR --rank ADDR --rerank ADDR]
"""
from __future__ import annotations

import argparse
import asyncio

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from recsys.v1 import (
    gateway_pb2,
    gateway_pb2_grpc,
    rank_pb2,
    rank_pb2_grpc,
    recall_pb2,
    recall_pb2_grpc,
    rerank_pb2,
    rerank_pb2_grpc,
)

RETRIEVED = recall_pb2.RetrieveResponse(item_ids=range(1, 1001), scores=[0.5] * 1000, channel_mask=[1] * 1000,
                                        channels=["two_tower"])
RANKED = rank_pb2.RankResponse(item_ids=range(1, 51), scores=[0.5] * 50, heads=["like", "complete", "share", "follow"],
                               head_scores=[0.1] * 200)
RERANKED = rerank_pb2.RerankResponse(item_ids=range(1, 21))
FEED = gateway_pb2.RecommendResponse(request_id="echo", items=[gateway_pb2.RecommendedItem(
    item_id=i, score=0.5, channels=["two_tower"], recall_position=i, rank_position=i) for i in range(1, 21)])


class Recall(recall_pb2_grpc.RecallServiceServicer):
    async def Retrieve(self, request, context):
        return RETRIEVED


class Rank(rank_pb2_grpc.RankServiceServicer):
    async def Rank(self, request, context):
        return RANKED


class Rerank(rerank_pb2_grpc.RerankServiceServicer):
    async def Rerank(self, request, context):
        return RERANKED


class Gateway(gateway_pb2_grpc.GatewayServiceServicer):
    def __init__(self, recall: str, rank: str, rerank: str):
        self.channels = [grpc.aio.insecure_channel(a) for a in (recall, rank, rerank)]
        self.recall = recall_pb2_grpc.RecallServiceStub(self.channels[0])
        self.rank = rank_pb2_grpc.RankServiceStub(self.channels[1])
        self.rerank = rerank_pb2_grpc.RerankServiceStub(self.channels[2])

    async def Recommend(self, request, context):
        # The same requests the real gateway sends, with candidate lists of the real sizes.
        got = await self.recall.Retrieve(recall_pb2.RetrieveRequest(), timeout=2)
        ranked = await self.rank.Rank(rank_pb2.RankRequest(item_ids=got.item_ids, top_k=50), timeout=2)
        await self.rerank.Rerank(rerank_pb2.RerankRequest(item_ids=ranked.item_ids, scores=ranked.scores,
                                                          count=20), timeout=2)
        return FEED


class EchoChain:
    """The echo processes (this module, one per role) on free loopback ports, for as long as
    the `with` block runs; `address` is the echo gateway's. `roles` may leave out the gateway,
    to put a real one in front of the echo stages (`ports` says where they listen)."""

    def __init__(self, roles: tuple[str, ...] = ("recall", "rank", "rerank", "gateway"), interceptor: bool = False):
        self.roles, self.interceptor = roles, interceptor

    def __enter__(self) -> EchoChain:
        import os
        import subprocess
        import sys

        from dev.redis_server import free_port
        from dev.stack import ROOT, wait_healthy
        ports = self.ports = {r: free_port() for r in ("recall", "rank", "rerank", "gateway")}
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "protos")]))
        self.procs = []
        for role in self.roles:
            args = [sys.executable, "-m", "bench.echo", "--role", role, "--port", str(ports[role])]
            if role == "gateway":
                args += [f"--{r}=127.0.0.1:{ports[r]}" for r in ("recall", "rank", "rerank")]
            if self.interceptor:
                args.append("--interceptor")
            self.procs.append(subprocess.Popen(args, env=env, cwd=ROOT))
        self.address = f"127.0.0.1:{ports['gateway']}"
        wait_healthy(f"127.0.0.1:{ports[self.roles[-1]]}", 30)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
            p.wait(timeout=10)


async def serve(role: str, port: int, recall: str, rank: str, rerank: str, interceptor: bool = False) -> None:
    interceptors = []
    if interceptor:  # the services' own (services/common/server.py): what it costs a hop
        from services.common.server import ErrorInterceptor
        interceptors.append(ErrorInterceptor(f"echo-{role}"))
    server = grpc.aio.server(interceptors=interceptors)
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    if role == "recall":
        recall_pb2_grpc.add_RecallServiceServicer_to_server(Recall(), server)
    elif role == "rank":
        rank_pb2_grpc.add_RankServiceServicer_to_server(Rank(), server)
    elif role == "rerank":
        rerank_pb2_grpc.add_RerankServiceServicer_to_server(Rerank(), server)
    else:
        gateway_pb2_grpc.add_GatewayServiceServicer_to_server(Gateway(recall, rank, rerank), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.echo", description=__doc__.split("\n")[0])
    p.add_argument("--role", choices=("gateway", "recall", "rank", "rerank"), required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--recall", default="")
    p.add_argument("--rank", default="")
    p.add_argument("--rerank", default="")
    p.add_argument("--interceptor", action="store_true", help="serve through the services' ErrorInterceptor")
    args = p.parse_args(argv)
    asyncio.run(serve(args.role, args.port, args.recall, args.rank, args.rerank, args.interceptor))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
