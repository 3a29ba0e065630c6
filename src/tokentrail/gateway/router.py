"""How the server mounts the gateway: one router whose lifespan starts and stops it.

``create_app`` includes it; FastAPI nests router lifespans inside the app's, so the
gateway starts after the runtime (spool open) and stops before it (its last calls are
spooled before the spool closes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter
from starlette.routing import Mount

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
    return Gateway(runtime, load_upstreams(s.gateway_config), capture=s.gateway_capture,
                   timeout=s.gateway_timeout, cache=ResponseCache(s.gateway_cache_mb << 20, s.gateway_cache_ttl))


def router(runtime: Runtime) -> APIRouter:
    """The gateway's routes (``/gateway/<upstream>/...``) with its start and stop."""
    gateway = build_gateway(runtime)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    r = APIRouter(lifespan=lifespan)
    r.routes.append(Mount(PREFIX, app=gateway, name="gateway"))
    return r
