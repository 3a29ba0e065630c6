"""Content search (read-content), content key rotation and erasure of a subject (admin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from tokentrail.errors import BadRequest
from tokentrail.privacy import content_keys, encryption, purge, rotation, search
from tokentrail.server import auth
from tokentrail.server.runtime import Runtime

router = APIRouter(tags=["privacy"])


def _audit(request: Request, actor: str, action: str, project: str = "", target: str = "", detail: str = "") -> None:
    try:
        from tokentrail import audit
    except ImportError:  # the audit log is not there yet
        return
    audit.record_request(request, actor=actor, action=action, project=project, target=target, detail=detail)


def _require(request: Request, scope: str, project: str | None = None) -> auth.Principal:
    require = getattr(auth, "require", None)
    return require(request, scope, project) if require else auth.authenticate(request)


def _server_wide(request: Request, scope: str) -> auth.Principal:
    check = getattr(auth, "require_server_wide", None)
    return check(request, scope) if check else _require(request, scope)


def _time(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise BadRequest(f"not an ISO time: {value!r}") from e
    return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)


@router.get("/api/search", summary="Traces whose prompt or response holds every word of q (encrypted content "
                                   "searched through its blind index); needs read-content")
async def search_content(request: Request, q: str = "", since: str | None = None, until: str | None = None,
                         limit: int = 50) -> dict[str, Any]:
    principal = _require(request, "read-content")
    rt: Runtime = request.app.state.runtime
    project = principal.project or rt.settings.default_project
    now = datetime.now(UTC)
    hi = _time(until, now + timedelta(minutes=5))
    lo = _time(since, hi - timedelta(days=max(rt.settings.retention_contents_days, 1)))
    if not 1 <= limit <= 500:
        raise BadRequest("limit must be 1-500")
    found = await run_in_threadpool(search.search, rt.store, rt.content_keys, project, q, lo, hi, limit)
    # the words are not recorded (they may be personal data themselves): how many, and what was found
    _audit(request, principal.actor, "content.search", project, detail=f"{found['words']} word(s), "
           f"{len(found['traces'])} trace(s)")
    return found


class RotateRequest(BaseModel):
    new_key: bool = False  # add a new active key to the key file first


@router.post("/api/admin/content/rotate", summary="Re-encrypt stored content with the active content key "
             "(optionally a new one added to the key file first)", dependencies=[Depends(auth.needs("admin"))]
             if hasattr(auth, "needs") else [])
async def rotate_content(request: Request, body: RotateRequest) -> dict[str, Any]:
    principal = _server_wide(request, "admin")
    rt: Runtime = request.app.state.runtime
    result = await run_in_threadpool(rotate_runtime, rt, body.new_key)
    _audit(request, principal.actor, "key.rotate-content", target=result["key_id"],
           detail=f"{result['rows']} rows re-encrypted, {result['failed']} failed")
    return result


def rotate_runtime(rt: Runtime, new_key: bool) -> dict[str, Any]:
    """Reload the keyring (the key file may hold a new key), optionally add a key, use it from now on for
    ingest and reads, and re-encrypt every older row."""
    try:
        ring = content_keys.load(rt.settings.content_key, rt.settings.data_dir)
        if ring is None:
            raise BadRequest("content encryption is off (content_key = off): nothing to rotate")
        if new_key:
            ring = content_keys.add_key(ring)
    except content_keys.KeyConfigError as e:
        raise BadRequest(str(e)) from e
    rt.content_keys = ring
    encryption.configure(ring)
    return rotation.rotate(rt.store, ring)


class PurgeRequest(BaseModel):
    user: str = ""
    session: str = ""
    customer: str = ""
    project: str = ""  # empty: every project (a server-wide admin key)


@router.post("/api/admin/purge", summary="Erase a user's, session's or customer's data from every table and rollup",
             dependencies=[Depends(auth.needs("admin"))] if hasattr(auth, "needs") else [])
async def purge_subject(request: Request, body: PurgeRequest) -> dict[str, Any]:
    given = [(k, v) for k, v in (("user", body.user), ("session", body.session), ("customer", body.customer)) if v]
    if len(given) != 1:
        raise BadRequest("name exactly one of user, session, customer")
    principal = _require(request, "admin", body.project or None) if body.project else _server_wide(request, "admin")
    rt: Runtime = request.app.state.runtime
    kind, value = given[0]
    result = await run_in_threadpool(purge_runtime, rt, kind, value, body.project)
    # the audit row must not keep the id it erased: a digest proves which id was purged to whoever knows it
    _audit(request, principal.actor, "purge", body.project, target=f"{kind}:sha256:{purge.digest(value)}",
           detail=f"{result['traces']} trace(s), {sum(result['deleted'].values())} row(s)")
    return result


def purge_runtime(rt: Runtime, kind: str, value: str, project: str) -> dict[str, Any]:
    """Purge through the running server: what is acknowledged is stored first (so nothing of the subject
    loads after the purge), then the rollups wait for it (the view gate)."""
    rt.settle()
    with rt.view_gate.write():
        return purge.purge(rt.store, kind, value, project, rt.settings.spool_dir)
