"""A tiny HTTP client for tests (the standard library's), answering (status, JSON or bytes)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request


def call(method: str, url: str, body=None, headers: dict[str, str] | None = None,
         timeout: float = 10.0) -> tuple[int, object]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            status, raw, kind = reply.status, reply.read(), reply.headers.get("content-type", "")
    except urllib.error.HTTPError as err:
        status, raw, kind = err.code, err.read(), err.headers.get("content-type", "")
    return status, json.loads(raw) if kind.startswith("application/json") else raw


def post(url: str, body, headers: dict[str, str] | None = None) -> tuple[int, object]:
    return call("POST", url, body, headers)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, object]:
    return call("GET", url, None, headers)
