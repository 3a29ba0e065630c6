"""Saved views of the web UI (query/saved_views.py): listed, saved and deleted by anyone who may read
the project; a view holds a page and its filters, never data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tokentrail.query import saved_views
from tokentrail.server.auth import project_of, require
from tokentrail.server.runtime import Runtime

router = APIRouter(prefix="/api", tags=["dashboards"])


class ViewIn(BaseModel):
    name: str = Field(max_length=1000)
    page: str = Field(max_length=100)
    query: str = Field("", max_length=10_000, description="the page's URL query string (the project is dropped)")


@router.get("/views", summary="The project's saved views (a page and its filters under a name)")
async def view_list(request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    project = project_of(request, require(request, "read"))
    return {"views": await run_in_threadpool(saved_views.list_views, rt.store, project), "project": project}


@router.post("/views", summary="Save the page and filters under a name (the same name again replaces it)")
async def view_save(request: Request, body: ViewIn) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    principal = require(request, "read")
    project = project_of(request, principal)
    return await run_in_threadpool(saved_views.save, rt.store, project, body.name, body.page, body.query,
                                   principal.actor)


@router.delete("/views/{view_id}", summary="Delete a saved view")
async def view_delete(request: Request, view_id: str) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    project = project_of(request, require(request, "read"))
    await run_in_threadpool(saved_views.delete, rt.store, project, view_id)
    return {"deleted": view_id}
