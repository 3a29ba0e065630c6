"""The web UI: ``/`` redirects to ``/ui/``; ``/ui/static/...`` are the app's files; every
other ``/ui/...`` path is the single-page app, which reads its page and filters from the URL."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse

from tokentrail.errors import NotFound
from tokentrail.ui import INDEX_HTML, STATIC_DIR

router = APIRouter(include_in_schema=False)
_REVALIDATE = {"Cache-Control": "no-cache"}  # cheap 304s, and an upgrade is seen at once


@router.get("/")
@router.get("/ui")
async def to_ui(request: Request) -> RedirectResponse:
    query = request.url.query
    return RedirectResponse("/ui/" + (f"?{query}" if query else ""), status_code=307)


@router.get("/ui/static/{path:path}")
async def static_file(path: str) -> FileResponse:
    file = (STATIC_DIR / path).resolve()
    if not file.is_relative_to(STATIC_DIR) or not file.is_file():
        raise NotFound(f"no UI file {path!r}")
    return FileResponse(file, headers=_REVALIDATE)


@router.get("/ui/{page:path}")
async def app_page(page: str) -> FileResponse:
    return FileResponse(INDEX_HTML, media_type="text/html", headers=_REVALIDATE)
