"""The HTTP app: routes only. Ingest, queries and storage live in their own packages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tokentrail.errors import Overloaded, TokentrailError
from tokentrail.server.routes import api, health, ingest
from tokentrail.server.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    app = FastAPI(title="tokentrail", version="0.1.0", lifespan=lifespan,
                  description="Self-hosted LLM observability: ingest (OTLP, native) and query API.")
    app.state.runtime = runtime
    app.include_router(health.router)
    app.include_router(ingest.router)
    app.include_router(api.router)

    @app.exception_handler(TokentrailError)
    async def _error(request: Request, exc: TokentrailError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Overloaded) else None
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    return app
