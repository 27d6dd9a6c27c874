"""Command line for the model admin API of a running rank service.

    python -m services.rank.admin_cli list --model ranker
    python -m services.rank.admin_cli promote --model ranker --version v0002
    python -m services.rank.admin_cli canary --model ranker --version v0003 --percent 5
    python -m services.rank.admin_cli rollback --model ranker

The admin API listens on the rank service's admin port, not its serving port: the address
comes from --addr or RANK_ADMIN_ADDR (default 127.0.0.1:50062; in Kubernetes, `kubectl
port-forward` to the pod or run this inside it), the bearer token from RANK_ADMIN_TOKEN
(an environment variable, so it stays out of shell history and `ps`). Prints JSON.
"""
from __future__ import annotations

import argparse
import os

import grpc
from recsys.v1 import common_pb2, model_admin_pb2, model_admin_pb2_grpc

from services.common.cli import run_rpc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.rank.admin_cli", description=__doc__.split("\n")[0])
    p.add_argument("--addr", default=os.environ.get("RANK_ADMIN_ADDR", "127.0.0.1:50062"))
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (loading a version takes a moment)")
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("list", "promote", "canary", "rollback"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--model", required=True, choices=["ranker", "prerank"])
        if name in ("promote", "canary"):
            cmd.add_argument("--version", required=name == "promote", default="")
        if name == "canary":
            cmd.add_argument("--percent", type=float, required=True, help="0..100; 0 ends the canary")
    args = p.parse_args(argv)
    model = common_pb2.ModelRef(name=args.model, version=getattr(args, "version", ""))
    kw = {"timeout": args.timeout,
          "metadata": [("authorization", f"Bearer {os.environ.get('RANK_ADMIN_TOKEN', '')}")]}
    with grpc.insecure_channel(args.addr) as channel:
        stub = model_admin_pb2_grpc.ModelAdminServiceStub(channel)
        calls = {
            "list": lambda: stub.ListVersions(model_admin_pb2.ListVersionsRequest(name=args.model), **kw),
            "promote": lambda: stub.Promote(model_admin_pb2.PromoteRequest(model=model), **kw),
            "canary": lambda: stub.SetCanary(model_admin_pb2.SetCanaryRequest(
                model=model, percent=getattr(args, "percent", 0.0)), **kw),
            "rollback": lambda: stub.Rollback(model_admin_pb2.RollbackRequest(name=args.model), **kw),
        }
        return run_rpc(calls[args.command])


if __name__ == "__main__":
    raise SystemExit(main())
