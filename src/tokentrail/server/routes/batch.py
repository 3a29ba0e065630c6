"""Batch loading through the server: ``tokentrail ingest`` sends chunks here while the server owns the store."""

from __future__ import annotations

import threading
import zlib
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from tokentrail.batch.loader import Chunk, ChunkResult, load_chunk
from tokentrail.batch.manifest import read_states
from tokentrail.batch.targets import CHUNK_HEADER
from tokentrail.errors import BadRequest, PayloadTooLarge
from tokentrail.server.auth import needs, project_of, require
from tokentrail.server.runtime import Runtime

router = APIRouter(prefix="/api/ingest/files", tags=["ingest"])

MAX_CHUNK_BYTES = 1 << 30
_guard = threading.Lock()
_file_locks: dict[tuple[str, str], threading.Lock] = {}


def _lock(project: str, source: str) -> threading.Lock:
    """One chunk of a file at a time: the manifest check and its move are then atomic."""
    with _guard:
        return _file_locks.setdefault((project, source), threading.Lock())


class StatesRequest(BaseModel):
    project: str | None = None
    prefix: str = ""


@router.post("/states", summary="Manifest rows (how far each file was loaded) of the files under a prefix",
             dependencies=[Depends(needs("ingest"))])
async def states(request: Request, body: StatesRequest) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    principal = require(request, "ingest")  # a key of one project: its project, whatever the body names
    project = principal.project or body.project or project_of(request, principal)
    found = await run_in_threadpool(read_states, rt.store, project, body.prefix)
    return {"project": project, "files": [s.to_dict() for s in found.values()]}


def _load(rt: Runtime, chunk: Chunk, data: bytes) -> ChunkResult:
    with _lock(chunk.project, chunk.source):
        result = load_chunk(rt.store, rt.prices.version, chunk, data)
    if result.rows and chunk.kind == "spans":
        for hook in rt.inserter.on_loaded:  # rollups and metrics follow, as after live inserts
            hook(result.version)
    return result


async def _data(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_CHUNK_BYTES:
        raise PayloadTooLarge(f"a chunk is at most {MAX_CHUNK_BYTES} bytes")
    body = await request.body()
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            body = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, MAX_CHUNK_BYTES + 1)
        except zlib.error as e:
            raise BadRequest(f"body is not valid gzip: {e}") from e
    if len(body) > MAX_CHUNK_BYTES:
        raise PayloadTooLarge(f"a chunk is at most {MAX_CHUNK_BYTES} bytes")
    return body


@router.post("/chunk", summary="Load whole lines of a file (chunk described in X-Tokentrail-Chunk); "
             "answered once the rows and the file's new manifest row are in the store")
async def chunk(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    principal = require(request, "ingest")
    try:
        meta = Chunk.model_validate_json(request.headers.get(CHUNK_HEADER) or "")
    except ValidationError as e:
        raise BadRequest(f"header {CHUNK_HEADER} must describe the chunk: {e.errors()[0]['msg']}") from e
    if principal.project:  # a key of one project (or the header): that project, whatever the chunk names
        meta.project = principal.project
    data = await _data(request)
    if len(data) != meta.offset_to - meta.offset_from:
        raise BadRequest(f"the body has {len(data)} bytes, the chunk says {meta.offset_to - meta.offset_from}")
    result = await run_in_threadpool(_load, rt, meta, data)
    return JSONResponse(result.model_dump(mode="json"))
