import asyncio
import socket

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from gateway.http.server import HttpServer, bind


def test_the_socket_says_tcp_so_asyncio_turns_nagle_off():
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP and sock.getsockname()[1] > 0
    finally:
        sock.close()


def test_serves_on_the_running_loop_and_stops_cleanly():
    async def hello(request):
        return Response("hi")

    async def go():
        server = HttpServer(Starlette(routes=[Route("/", hello)]), bind("127.0.0.1", 0))
        server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        reply = await reader.read()
        writer.close()
        await server.stop()
        return reply

    reply = asyncio.run(go())
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"hi")
