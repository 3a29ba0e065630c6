"""UI sign-in: ``POST /api/signin`` (an account's password, or an API key) sets the session cookie,
``POST /api/signout`` ends it, ``GET /api/me`` says who the caller is and which projects they may read.
How sessions and their cookie work: ``tokentrail.auth.sessions`` and docs/signin.md."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tokentrail import audit
from tokentrail.auth import accounts, sessions
from tokentrail.errors import TokentrailError
from tokentrail.server.auth import Forbidden, Principal, Unauthorized, authenticate
from tokentrail.server.runtime import Runtime
from tokentrail.storage.backend import Store

router = APIRouter(prefix="/api", tags=["sign-in"])
FAILURES_ALLOWED = {"name": 10, "ip": 50}  # failed sign-ins per account name, per client address ...
FAILURE_WINDOW = 600.0  # ... within this many seconds; then 429 until the oldest failure is that old


class TooManyAttempts(TokentrailError):
    status = 429


class _Failures:
    """Recent failed sign-ins by client address and by account name (bounded)."""

    def __init__(self) -> None:
        self.seen: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def _recent(self, who: str, now: float) -> deque[float]:
        q = self.seen.setdefault(who, deque())
        while q and q[0] < now - FAILURE_WINDOW:
            q.popleft()
        return q

    def check(self, *who: str) -> None:
        now = time.monotonic()
        with self.lock:
            for w in who:
                q = self._recent(w, now)
                if len(q) >= FAILURES_ALLOWED[w.split(":", 1)[0]]:
                    wait = int(q[0] + FAILURE_WINDOW - now) + 1
                    raise TooManyAttempts(f"too many failed sign-ins; try again in {wait} s")

    def add(self, *who: str) -> None:
        now = time.monotonic()
        with self.lock:
            if len(self.seen) > 10_000:  # bounded: forget the quiet ones
                self.seen = {k: q for k, q in self.seen.items() if q and q[-1] > now - FAILURE_WINDOW}
            for w in who:
                self._recent(w, now).append(now)


_failures = _Failures()


class SignIn(BaseModel):
    name: str = Field("", max_length=64, description="account name (with password)")
    password: str = Field("", max_length=1024)
    key: str = Field("", max_length=200, description="an API key, instead of name and password")


def _client(request: Request) -> tuple[str, str]:
    return (request.client.host if request.client else ""), request.headers.get("user-agent", "")


def _visible_projects(store: Store, principal: Principal, default: str) -> list[str]:
    """The projects ``principal`` may read: its own, or (every project) those holding data."""
    if principal.projects is not None:
        return sorted(principal.projects)
    rows = store.query(f"SELECT DISTINCT project FROM {store.database}.rollup_day UNION DISTINCT "
                       f"SELECT DISTINCT project FROM {store.database}.rollup_minute")
    return sorted({r["project"] for r in rows if r["project"]} | {default})


@router.post("/signin", summary="Sign in to the UI with an account's name and password, or an API key: "
             "sets the session cookie")
async def signin(request: Request, body: SignIn, response: Response) -> dict[str, Any]:
    if not sessions.same_origin(request):
        raise Forbidden("cross-site sign-in refused: its Origin is not this server")
    rt: Runtime = request.app.state.runtime
    ip, agent = _client(request)
    buckets = [f"ip:{ip}"] + ([f"name:{body.name.strip()}"] if body.name.strip() and not body.key else [])
    _failures.check(*buckets)
    if body.key:
        key = rt.keys.lookup(body.key.strip())
        kind, subject, actor = ("key", key.hash, f"key:{key.prefix}") if key else ("", "", "")
        failed_actor = "key:unknown"
    elif body.name and body.password:
        account = await run_in_threadpool(accounts.cache_for(rt.store).verify, body.name.strip(), body.password)
        kind, subject, actor = ("account", account.name, account.actor) if account else ("", "", "")
        failed_actor = f"user:{body.name.strip()}"
    else:
        raise Unauthorized("send a name and a password, or an API key")
    if not kind:
        _failures.add(*buckets)
        audit.record(rt.store, actor=failed_actor, action="signin.failed", ip=ip, user_agent=agent,
                     detail="wrong password, or no such active account" if body.name else "unknown or revoked key")
        raise Unauthorized("wrong name or password" if body.name else "unknown, revoked or expired API key")
    raw = await run_in_threadpool(sessions.start, rt.store, kind, subject, rt.settings.session_hours, ip, agent)
    audit.record(rt.store, actor=actor, action="signin", target=actor, ip=ip, user_agent=agent,
                 detail=f"with {'a password' if kind == 'account' else 'an API key'}")
    response.set_cookie(sessions.COOKIE, raw, max_age=int(rt.settings.session_hours * 3600), path="/",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return {"signed_in": True, "actor": actor, "csrf": sessions.csrf_token(raw)}


@router.post("/signout", summary="End the UI session (and remove its cookie)")
async def signout(request: Request, response: Response) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    found = sessions.cookie_session(request)
    ended = False
    if found is not None:
        principal = sessions.principal_from_request(request)  # refuses a cross-site or token-less sign-out
        ended = await run_in_threadpool(sessions.end, rt.store, found[0])
        if principal is not None:
            audit.record_request(request, actor=principal.actor, action="signout", target=principal.actor)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return {"signed_out": ended}


@router.get("/me", summary="Who is asking: actor, scopes, the projects they may read (and those whose content); "
            "auth 'none' when the server needs credentials and the request has none")
async def me(request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    try:
        principal = authenticate(request)
    except Unauthorized:  # not an error here: the UI shows its sign-in page
        return {"actor": None, "auth": "none", "signin_required": True, "scopes": [], "projects": [],
                "content_projects": [], "admin": False, "csrf": None}
    found = sessions.cookie_session(request)
    if principal.actor == "local":
        how = "open"
    elif found is not None and sessions.principal_from_request(request) == principal:
        how = "session"
    else:
        how = "key"
    projects = await run_in_threadpool(_visible_projects, rt.store, principal, rt.settings.default_project)
    readable = [p for p in projects if principal.can("read", p)]
    return {"actor": principal.actor, "auth": how, "scopes": sorted(principal.scopes), "projects": readable,
            "project": principal.project or (readable[0] if principal.projects is not None and readable
                                             else rt.settings.default_project),
            "content_projects": [p for p in readable if principal.can("read-content", p)],
            "admin": "admin" in principal.scopes,
            "csrf": sessions.csrf_token(found[0]) if how == "session" and found else None}
