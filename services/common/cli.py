"""What every command-line client does with one RPC: print the reply as JSON, or the status
code and message on stderr with exit code 1."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message


def run_rpc(call: Callable[[], Message]) -> int:
    try:
        reply = call()
    except grpc.RpcError as err:
        print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    print(json.dumps(MessageToDict(reply, preserving_proto_field_name=True), indent=2))
    return 0
