"""Admin API for API keys: create (the raw key is in that answer only), list, revoke.

An admin key of one project manages that project's keys; a server-wide admin key (project ``*``)
manages all of them and may make server-wide keys. Every change is audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from tokentrail import audit
from tokentrail.auth.keys import (
    ALL_PROJECTS,
    ApiKey,
    create_key,
    find_key,
    load_keys,
    parse_duration,
    revoke_key,
)
from tokentrail.errors import NotFound
from tokentrail.server.auth import Principal, needs, require, require_server_wide
from tokentrail.server.runtime import Runtime

router = APIRouter(prefix="/api/admin/keys", tags=["admin"], dependencies=[Depends(needs("admin"))])


class CreateKey(BaseModel):
    project: str
    scopes: list[str]
    name: str = ""
    expires: str | None = None  # 90m, 12h, 30d, 4w; none: never


def _admin_of(request: Request, project: str) -> Principal:
    if project == ALL_PROJECTS:
        return require_server_wide(request, "admin")
    return require(request, "admin", project)


def _visible(principal: Principal, key: ApiKey) -> bool:
    return principal.projects is None or key.project in principal.projects


@router.post("", summary="Make an API key: its raw value is in this answer only")
async def create(request: Request, body: CreateKey) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    principal = _admin_of(request, body.project)
    expires_in = parse_duration(body.expires) if body.expires else None
    raw, key = await run_in_threadpool(create_key, rt.store, body.project, body.scopes, name=body.name,
                                       expires_in=expires_in, created_by=principal.actor)
    await run_in_threadpool(rt.keys.refresh)
    audit.record_request(request, actor=principal.actor, action="key.create", project=key.project,
                         target=key.prefix, detail=f"scopes {','.join(sorted(key.scopes))}; name {key.name!r}")
    return {"key": raw, **key.describe()}


@router.get("", summary="API keys (prefix, project, scopes, state; never the key)")
async def listing(request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    principal = require(request, "admin")
    keys = await run_in_threadpool(load_keys, rt.store)
    return {"keys": [k.describe() for k in keys if _visible(principal, k)]}


@router.delete("/{prefix}", summary="Revoke a key (by prefix or key id): refused within seconds everywhere")
async def revoke(request: Request, prefix: str) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    principal = require(request, "admin")
    keys = [k for k in await run_in_threadpool(load_keys, rt.store) if _visible(principal, k)]
    try:
        key = find_key(keys, prefix)
    except NotFound:
        raise NotFound(f"no key {prefix!r} that {principal.actor} may manage") from None
    _admin_of(request, key.project)
    revoked = await run_in_threadpool(revoke_key, rt.store, key.key_id)
    await run_in_threadpool(rt.keys.refresh)
    audit.record_request(request, actor=principal.actor, action="key.revoke", project=key.project,
                         target=key.prefix, detail=key.name)
    return revoked.describe()
