"""The one place domain errors (`core/errors.py`) become gRPC status codes.

`ErrorInterceptor` (server.py) catches a `RecsysError` from any handler and aborts with
`status_of(err)`, so servicers never call `context.abort` themselves.
"""
from __future__ import annotations

import grpc

from core import errors

_CODES: dict[type[errors.RecsysError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
}


def status_of(err: errors.RecsysError) -> grpc.StatusCode:
    """The status code of a domain error (its nearest mapped base class; INTERNAL if none)."""
    for kind in type(err).__mro__:
        if kind in _CODES:
            return _CODES[kind]
    return grpc.StatusCode.INTERNAL
