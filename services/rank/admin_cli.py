"""Command line for the model admin API of a running rank service.

    python -m services.rank.admin_cli list --model ranker
    python -m services.rank.admin_cli promote --model ranker --version v0002
    python -m services.rank.admin_cli canary --model ranker --version v0003 --percent 5
    python -m services.rank.admin_cli rollback --model ranker

The address comes from --addr or RANK_ADDR (default 127.0.0.1:50052). Prints JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import grpc
from google.protobuf.json_format import MessageToDict
from recsys.v1 import common_pb2, model_admin_pb2, model_admin_pb2_grpc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.rank.admin_cli", description=__doc__.split("\n")[0])
    p.add_argument("--addr", default=os.environ.get("RANK_ADDR", "127.0.0.1:50052"))
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
    with grpc.insecure_channel(args.addr) as channel:
        stub = model_admin_pb2_grpc.ModelAdminServiceStub(channel)
        try:
            if args.command == "list":
                reply = stub.ListVersions(model_admin_pb2.ListVersionsRequest(name=args.model), timeout=args.timeout)
            elif args.command == "promote":
                reply = stub.Promote(model_admin_pb2.PromoteRequest(
                    model=common_pb2.ModelRef(name=args.model, version=args.version)), timeout=args.timeout)
            elif args.command == "canary":
                reply = stub.SetCanary(model_admin_pb2.SetCanaryRequest(
                    model=common_pb2.ModelRef(name=args.model, version=args.version), percent=args.percent),
                    timeout=args.timeout)
            else:
                reply = stub.Rollback(model_admin_pb2.RollbackRequest(name=args.model), timeout=args.timeout)
        except grpc.RpcError as err:
            print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
            return 1
    print(json.dumps(MessageToDict(reply, preserving_proto_field_name=True), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
