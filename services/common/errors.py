"""Domain errors and the one place they become gRPC status codes.

Code inside the services raises these; `ErrorInterceptor` (see server.py) maps them, so
servicers never call `context.abort` themselves.
"""
from __future__ import annotations

import grpc


class RecsysError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgument(RecsysError):
    """The caller's input is wrong. The message starts with the offending field's name."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(RecsysError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(RecsysError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(RecsysError):
    """A dependency is down; the caller may retry."""

    code = grpc.StatusCode.UNAVAILABLE


class Overloaded(RecsysError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class AlreadyExists(RecsysError):
    code = grpc.StatusCode.ALREADY_EXISTS
