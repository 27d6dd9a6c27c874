"""Serving the HTTP app on the gateway's own asyncio loop, beside grpc.aio.

uvicorn.Server.serve() runs inside an existing loop; the only change is that it must not
take SIGTERM/SIGINT over (it installs its own handlers in `capture_signals`): the gateway's
bootstrap owns them and stops this server as part of its own drain.
The socket is bound before the gRPC server starts, so the port is known (0 = a free one)
and connections made before the app serves wait in the backlog instead of being refused.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket

import uvicorn


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        yield


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on
    # sockets that say they are TCP, and with Nagle on every answer waited ~40 ms for the
    # client's delayed ACK (measured: 48 ms p50 for a 2-byte answer, 0.3 ms with it).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class HttpServer:
    def __init__(self, app, sock: socket.socket):
        self.sock = sock
        # log_config=None: uvicorn's loggers go through the service's own JSON logging.
        self.server = EmbeddedServer(uvicorn.Config(app, log_level="warning", access_log=False, log_config=None,
                                                    lifespan="off", timeout_graceful_shutdown=5))
        self._task: asyncio.Task | None = None

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve(sockets=[self.sock]))

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to the graceful timeout)."""
        if self._task is None:
            return
        self.server.should_exit = True
        await self._task
