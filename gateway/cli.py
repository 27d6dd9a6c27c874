"""A small command-line client of the gateway, for people and scripts.

    python -m gateway.cli recommend --user 42 [--count 10] [--debug] [--context device=ios]
    python -m gateway.cli report --user 42 --item 7 --type like [--watch-ms 12000]
    python -m gateway.cli explain --user 42 --item 7
    python -m gateway.cli recommend --external-user u_8f3a   # an imported dataset's own ids
    python -m gateway.cli publish --item 900001 --author 17 --category 3 --duration 25 [--region 2]
    python -m gateway.cli remove --item 900001 [--reason moderation]

Prints JSON. The address comes from --addr or GATEWAY_ADDR (default 127.0.0.1:50050); the
API key from --api-key or GATEWAY_API_KEY (sent as x-api-key when set); publish and remove
need the admin key, from --admin-key or GATEWAY_ADMIN_KEY (sent as x-admin-key).
"""
from __future__ import annotations

import argparse
import os
import uuid

import grpc
from recsys.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2, gateway_pb2, gateway_pb2_grpc

from services.common.cli import run_rpc

EVENT_TYPES = {name.removeprefix("EVENT_TYPE_").lower(): value
               for name, value in common_pb2.EventType.items() if value}


def _context(pairs: list[str], parser: argparse.ArgumentParser) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            parser.error(f"--context {pair!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _user_args(parser: argparse.ArgumentParser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", type=int, default=0)
    who.add_argument("--external-user", default="", help="the user's id in the imported dataset")


def _item_args(parser: argparse.ArgumentParser, required: bool) -> None:
    what = parser.add_mutually_exclusive_group(required=required)
    what.add_argument("--item", type=int, default=0)
    what.add_argument("--external-item", default="", help="the item's id in the imported dataset")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gateway.cli", description="Gateway client")
    p.add_argument("--addr", default=os.environ.get("GATEWAY_ADDR", "127.0.0.1:50050"))
    p.add_argument("--timeout", type=float, default=2.0, help="deadline in seconds")
    p.add_argument("--api-key", default=os.environ.get("GATEWAY_API_KEY", ""))
    p.add_argument("--admin-key", default=os.environ.get("GATEWAY_ADMIN_KEY", ""))
    sub = p.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("recommend", help="get a feed")
    _user_args(rec)
    rec.add_argument("--count", type=int, default=10)
    rec.add_argument("--debug", action="store_true")
    rec.add_argument("--context", action="append", default=[], metavar="KEY=VALUE")
    rec.add_argument("--experiment", default="", help="serve under this experiment id")
    exp = sub.add_parser("explain", help="why an item is or is not in the user's feed")
    _user_args(exp)
    _item_args(exp, required=True)
    exp.add_argument("--count", type=int, default=20)
    rep = sub.add_parser("report", help="report one event")
    _user_args(rep)
    _item_args(rep, required=False)
    rep.add_argument("--author", type=int, default=0)
    rep.add_argument("--type", required=True, choices=sorted(EVENT_TYPES))
    rep.add_argument("--watch-ms", type=int, default=0)
    rep.add_argument("--event-id", default="", help="idempotency key (default: random)")
    pub = sub.add_parser("publish", help="publish a new video")
    pub.add_argument("--item", type=int, required=True)
    pub.add_argument("--author", type=int, required=True)
    pub.add_argument("--category", type=int, required=True)
    pub.add_argument("--duration", type=float, required=True, help="seconds")
    pub.add_argument("--region", type=int, default=0)
    rem = sub.add_parser("remove", help="take a video down")
    rem.add_argument("--item", type=int, required=True)
    rem.add_argument("--reason", default="")
    args = p.parse_args(argv)

    metadata = [("x-api-key", args.api_key)] if args.api_key else None
    admin = [("x-admin-key", args.admin_key)] if args.admin_key else metadata
    with grpc.insecure_channel(args.addr) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
        calls = {
            "recommend": lambda: stub.Recommend(gateway_pb2.RecommendRequest(
                user_id=args.user, external_user_id=args.external_user, count=args.count, debug=args.debug,
                experiment=args.experiment,
                context=_context(args.context, p)), timeout=args.timeout, metadata=metadata),
            "explain": lambda: stub.Explain(gateway_pb2.ExplainRequest(
                user_id=args.user, item_id=args.item, external_user_id=args.external_user,
                external_item_id=args.external_item, count=args.count), timeout=args.timeout,
                metadata=metadata),
            "report": lambda: stub.ReportEvents(gateway_pb2.ReportEventsRequest(events=[common_pb2.Event(
                event_id=args.event_id or uuid.uuid4().hex, user_id=args.user, item_id=args.item,
                external_user_id=args.external_user, external_item_id=args.external_item,
                author_id=args.author, type=EVENT_TYPES[args.type], watch_ms=args.watch_ms)]),
                timeout=args.timeout, metadata=metadata),
            "publish": lambda: catalog.PublishItem(catalog_pb2.PublishItemRequest(
                item_id=args.item, author_id=args.author, category=args.category,
                duration_s=args.duration, region=args.region), timeout=args.timeout, metadata=admin),
            "remove": lambda: catalog.RemoveItem(catalog_pb2.RemoveItemRequest(
                item_id=args.item, reason=args.reason), timeout=args.timeout, metadata=admin),
        }
        return run_rpc(calls[args.command])


if __name__ == "__main__":
    raise SystemExit(main())
