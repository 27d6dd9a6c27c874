"""The error/shedding interceptor on a real in-process grpc.aio server."""
import asyncio

import grpc
import pytest

from dev.redis_server import free_port
from services.common.server import ErrorInterceptor


async def _serve(interceptor: ErrorInterceptor, delay_s: float):
    async def say(request: bytes, context) -> bytes:
        await asyncio.sleep(delay_s)
        return request

    server = grpc.aio.server(interceptors=[interceptor])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        "test.Echo", {"Say": grpc.unary_unary_rpc_method_handler(say)})])
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    await server.start()
    return server, port


def test_requests_that_would_miss_their_deadline_are_shed_at_once_and_the_estimate_decays():
    async def go():
        interceptor = ErrorInterceptor("test")
        server, port = await _serve(interceptor, delay_s=0.05)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                call = ch.unary_unary("/test.Echo/Say")
                assert await call(b"x", timeout=5) == b"x"  # learns a ~50 ms service time
                assert interceptor.shedder.service_s["Say"] >= 0.04
                with pytest.raises(grpc.RpcError) as err:
                    await call(b"x", timeout=0.02)  # cannot make it: shed, not timed out
                assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                before = interceptor.shedder.service_s["Say"]
                for _ in range(5):
                    with pytest.raises(grpc.RpcError):
                        await call(b"x", timeout=0.02)
                assert interceptor.shedder.service_s["Say"] < before  # shedding decays the estimate
                assert await call(b"y", timeout=5) == b"y"  # generous deadlines still served
        finally:
            await server.stop(0)
    asyncio.run(go())


def test_in_flight_limit_sheds_beyond_it():
    async def go():
        interceptor = ErrorInterceptor("test", max_in_flight=2)
        server, port = await _serve(interceptor, delay_s=0.3)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                call = ch.unary_unary("/test.Echo/Say")
                results = await asyncio.gather(*(call(b"x", timeout=5) for _ in range(5)),
                                               return_exceptions=True)
                codes = [r.code() for r in results if isinstance(r, grpc.RpcError)]
                assert sum(r == b"x" for r in results) == 2
                assert codes == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 3
        finally:
            await server.stop(0)
    asyncio.run(go())


def test_reflection_can_be_off_and_an_admin_port_wants_its_token():
    import os
    import signal

    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    from services.common.admin_auth import HEADER
    from services.common.server import AdminPort, Registration, run_server
    from services.common.settings import ServiceSettings

    port, admin_port = free_port(), free_port()
    settings = ServiceSettings(port=port, reflection=False, grace_s=0)
    admin = AdminPort(f"127.0.0.1:{admin_port}", "tok", (Registration(
        lambda servicer, server: health_pb2_grpc.add_HealthServicer_to_server(servicer, server),
        health_pb2_grpc.HealthServicer(), "grpc.health.v1.Health"),))

    async def go():
        serving = asyncio.create_task(run_server("test", settings, [], admin=admin))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            for _ in range(100):
                try:
                    await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=1)
                    break
                except grpc.RpcError:
                    await asyncio.sleep(0.05)
            with pytest.raises(grpc.RpcError) as err:
                async for _ in reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(
                        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=2):
                    pass
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        async with grpc.aio.insecure_channel(f"127.0.0.1:{admin_port}") as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            with pytest.raises(grpc.RpcError) as err:  # the base servicer would say UNIMPLEMENTED
                await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as err:
                await stub.Check(health_pb2.HealthCheckRequest(), timeout=2, metadata=[(HEADER, "Bearer tok")])
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED  # let through to the servicer
        os.kill(os.getpid(), signal.SIGTERM)  # run_server drains on SIGTERM
        await asyncio.wait_for(serving, 10)
    asyncio.run(go())
