"""Domain errors. Pure logic raises these; the serving edge maps each kind to a status code
(`services/common/errors.py` for gRPC), so nothing in `core/` knows about a transport."""
from __future__ import annotations


class RecsysError(Exception):
    """Something went wrong that is not the caller's fault (mapped to INTERNAL)."""


class InvalidArgument(RecsysError):
    """The caller's input is wrong. The message starts with the offending field's name."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(RecsysError):
    pass


class FailedPrecondition(RecsysError):
    pass


class Unavailable(RecsysError):
    """A dependency is down; the caller may retry."""


class Overloaded(RecsysError):
    pass


class AlreadyExists(RecsysError):
    pass


class Unauthenticated(RecsysError):
    """No valid credentials."""


class PermissionDenied(RecsysError):
    """Valid credentials that do not allow this call."""
