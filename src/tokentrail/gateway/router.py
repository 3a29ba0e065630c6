"""How the server mounts the gateway: ``install(app, runtime)``, one line in ``create_app``.

Requests under ``/gateway`` go to the gateway from a middleware, ahead of the app's
routing and its per-route machinery: measured in-process, that is ~25 us per request
instead of ~150 us through the FastAPI router, on a budget of 1 ms. Everything else goes
on to the app untouched. The gateway's start and stop ride on a router lifespan, which
FastAPI nests inside the app's: the gateway starts after the runtime (spool open) and
stops before it (its last calls are spooled before the spool closes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from tokentrail.gateway.cache import ResponseCache
from tokentrail.gateway.forward import Gateway
from tokentrail.gateway.spans import CAPTURE_POLICIES
from tokentrail.gateway.upstreams import GatewayConfigError, load_upstreams
from tokentrail.server.runtime import Runtime

PREFIX = "/gateway"


def build_gateway(runtime: Runtime) -> Gateway:
    s = runtime.settings
    if s.gateway_capture not in CAPTURE_POLICIES:
        raise GatewayConfigError(f"gateway_capture must be one of {', '.join(CAPTURE_POLICIES)}, "
                                 f"not {s.gateway_capture!r}")
    cache = ResponseCache(s.gateway_cache_mb << 20, s.gateway_cache_ttl)
    return Gateway(runtime, load_upstreams(s.gateway_config), capture=s.gateway_capture,
                   timeout=s.gateway_timeout, cache=cache)


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"][len(scope.get("root_path", "")):]
            if path.startswith(PREFIX) and (len(path) == len(PREFIX) or path[len(PREFIX)] == "/"):
                return await self.gateway.serve(scope, receive, send, path[len(PREFIX):])
        await self.app(scope, receive, send)


def install(app: FastAPI, runtime: Runtime) -> None:
    """Serve the gateway (``/gateway/<upstream>/...``) from ``app``, started and stopped with it."""
    gateway = build_gateway(runtime)
    runtime.before_settle.append(gateway.recorder.flush)

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app.add_middleware(GatewayMiddleware, gateway=gateway)
    app.include_router(APIRouter(lifespan=lifespan))
