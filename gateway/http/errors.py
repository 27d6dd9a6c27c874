"""Domain errors as HTTP answers: the gRPC status code's usual HTTP status (Google's API
mapping), and a body naming the gRPC reason:

    {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "count: must be 1..100, got 0"}}
"""
from __future__ import annotations

import grpc

HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def error_body(code: grpc.StatusCode, message: str) -> tuple[int, dict]:
    """(HTTP status, JSON body) of a failed call."""
    status = HTTP_STATUS.get(code, 500)
    return status, {"error": {"code": status, "status": code.name, "message": message}}
