"""The HTTP app: routes only. Ingest, queries and storage live in their own packages."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException

from tokentrail import gateway
from tokentrail.errors import Overloaded, TokentrailError
from tokentrail.ingest import normalize
from tokentrail.server import browser
from tokentrail.server.body_limit import BodyLimit, limit_for
from tokentrail.server.freshness import FreshReads
from tokentrail.server.prometheus import TokentrailCollector
from tokentrail.server.responses import JSONResponse
from tokentrail.server.routes import (
    accounts,
    alerts,
    api,
    audit,
    batch,
    capture,
    dashboards,
    health,
    ingest,
    keys,
    privacy,
    projects,
    quarantine,
    signin,
    ui,
    views,
)
from tokentrail.server.runtime import Runtime
from tokentrail.storage.deadline import ReadDeadline

log = logging.getLogger("tokentrail.server")


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    app = FastAPI(title="tokentrail", version="0.1.0", lifespan=lifespan, default_response_class=JSONResponse,
                  description="Self-hosted LLM observability: ingest (OTLP, native) and query API.")
    app.state.runtime = runtime
    app.state.prometheus = CollectorRegistry()
    app.state.prometheus.register(TokentrailCollector(runtime))
    app.add_middleware(ReadDeadline, seconds=runtime.settings.query_timeout)  # reads answer 503, never queue forever
    app.add_middleware(FreshReads, runtime=runtime)  # a read sees what was acknowledged batch_seconds ago
    app.include_router(health.router)
    app.include_router(ingest.router)
    app.include_router(batch.router)
    app.include_router(api.router)
    app.include_router(quarantine.router)
    app.include_router(privacy.router)
    app.include_router(capture.router)
    app.include_router(keys.router)
    app.include_router(dashboards.router)
    app.include_router(projects.router)
    app.include_router(views.router)
    app.include_router(alerts.router)
    app.include_router(audit.router)
    app.include_router(accounts.router)
    app.include_router(signin.router)
    app.add_middleware(BodyLimit, limit_for=limit_for)  # bounded memory per request, chunked bodies included
    normalize.configure(runtime.settings.ingest_max_value_bytes)
    gateway.install(app, runtime)
    app.include_router(ui.router)
    browser.install(app, runtime.settings)  # last: Host, cross-site and content-type checks wrap everything

    @app.exception_handler(TokentrailError)
    async def _error(request: Request, exc: TokentrailError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Overloaded) else None
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        return JSONResponse({"error": problems, "details": jsonable_encoder(exc.errors())}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"[:500]}, status_code=500)

    return app
