"""UI accounts, managed by a server-wide admin: made, listed, disabled, given a new password.
Every change is audited (account.create, account.disable, account.password)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tokentrail import audit
from tokentrail.auth import accounts
from tokentrail.server.auth import needs, require_server_wide
from tokentrail.server.runtime import Runtime

router = APIRouter(prefix="/api/admin/accounts", tags=["admin"])


class NewAccount(BaseModel):
    name: str = Field(max_length=64)
    projects: list[str] = Field(max_length=1000, description="project names, or ['*'] for every project")
    scopes: list[str] = Field(max_length=10, description="read, read-content, ingest, admin")
    password: str = Field(max_length=1024)


class NewPassword(BaseModel):
    password: str = Field(max_length=1024)


@router.get("", summary="UI accounts (never their password hashes)")
async def list_accounts(request: Request) -> dict[str, Any]:
    require_server_wide(request, "admin")
    rt: Runtime = request.app.state.runtime
    found = await run_in_threadpool(accounts.load_accounts, rt.store)
    return {"accounts": [a.describe() for a in found]}


@router.post("", summary="Make a UI account with projects, scopes and a password",
             dependencies=[Depends(needs("admin"))])
async def create(request: Request, body: NewAccount) -> dict[str, Any]:
    principal = require_server_wide(request, "admin")
    rt: Runtime = request.app.state.runtime
    account = await run_in_threadpool(accounts.create_account, rt.store, body.name, body.projects, body.scopes,
                                      body.password, principal.actor)
    accounts.cache_for(rt.store).put(account)
    d = account.describe()
    audit.record_request(request, actor=principal.actor, action="account.create", target=f"user:{account.name}",
                         detail=f"projects {','.join(d['projects'])}; scopes {','.join(d['scopes'])}")
    return d


@router.post("/{name}/disable", summary="Disable an account: its sessions stop within seconds",
             dependencies=[Depends(needs("admin"))])
async def disable(request: Request, name: str) -> dict[str, Any]:
    principal = require_server_wide(request, "admin")
    rt: Runtime = request.app.state.runtime
    account = await run_in_threadpool(accounts.disable_account, rt.store, name)
    accounts.cache_for(rt.store).put(account)
    audit.record_request(request, actor=principal.actor, action="account.disable", target=f"user:{name}")
    return account.describe()


@router.post("/{name}/password", summary="Give an account a new password", dependencies=[Depends(needs("admin"))])
async def password(request: Request, name: str, body: NewPassword) -> dict[str, Any]:
    principal = require_server_wide(request, "admin")
    rt: Runtime = request.app.state.runtime
    account = await run_in_threadpool(accounts.set_password, rt.store, name, body.password)
    accounts.cache_for(rt.store).put(account)
    audit.record_request(request, actor=principal.actor, action="account.password", target=f"user:{name}")
    return account.describe()
