"""Saved views: a dashboard page and its filters (the URL's query string) under a name, per project.

Everyone who may read a project sees its views (a team's shared "checkout errors, last 7 days"); the
query string is stored as given, less the project (a view belongs to one) and re-encoded, so a view
always opens as a URL of the app itself.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from tokentrail.errors import BadRequest, NotFound
from tokentrail.storage.backend import Store

PAGES = ("overview", "cost", "usage", "quality", "traces", "sessions", "users")
MAX_VIEWS = 200  # per project
MAX_NAME = 100
MAX_QUERY = 2000


def _clean_query(query: str) -> str:
    pairs = [(k, v) for k, v in parse_qsl(query.lstrip("?"), keep_blank_values=False) if k != "project"]
    out = urlencode(pairs)
    if len(out) > MAX_QUERY:
        raise BadRequest(f"the view's query string is longer than {MAX_QUERY} characters")
    return out


def list_views(store: Store, project: str) -> list[dict[str, Any]]:
    return store.query(f"""
        SELECT view_id, name, page, query, created_by, created_at FROM {store.database}.saved_views FINAL
        WHERE project = {{p:String}} ORDER BY lower(name), created_at""", {"p": project})


def save(store: Store, project: str, name: str, page: str, query: str, actor: str) -> dict[str, Any]:
    """A new view (a name already used in the project is replaced: saving again updates it)."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME:
        raise BadRequest(f"a view needs a name of 1-{MAX_NAME} characters")
    if page not in PAGES:
        raise BadRequest(f"page must be one of {', '.join(PAGES)}")
    query = _clean_query(query)
    views = list_views(store, project)
    same = next((v for v in views if v["name"].lower() == name.lower()), None)
    if same is None and len(views) >= MAX_VIEWS:
        raise BadRequest(f"project {project!r} already has {MAX_VIEWS} saved views: delete some first")
    now = datetime.now(UTC).replace(tzinfo=None)
    view_id = same["view_id"] if same else secrets.token_hex(8)
    created_at = same["created_at"] if same else now.isoformat(sep=" ", timespec="milliseconds")
    view = {"view_id": view_id, "name": name, "page": page, "query": query, "created_by": actor,
            "created_at": created_at}
    _write(store, project, view, deleted=False)
    return {**view, "replaced": same is not None}


def delete(store: Store, project: str, view_id: str) -> None:
    view = next((v for v in list_views(store, project) if v["view_id"] == view_id), None)
    if view is None:
        raise NotFound(f"no saved view {view_id!r} in project {project!r}")
    _write(store, project, view, deleted=True)


def _write(store: Store, project: str, view: dict[str, Any], deleted: bool) -> None:
    """A new version of ``view`` (the newest wins; ``deleted`` removes it)."""
    store.command(f"""
        INSERT INTO {store.database}.saved_views (project, view_id, name, page, query, created_by, created_at,
                                                   deleted, version)
        VALUES ({{p:String}}, {{id:String}}, {{name:String}}, {{page:String}}, {{q:String}}, {{by:String}},
                {{at:DateTime64(3)}}, {{deleted:UInt8}}, now64(6))""",
                  {"p": project, "id": view["view_id"], "name": view["name"], "page": view["page"],
                   "q": view["query"], "by": view["created_by"], "at": view["created_at"], "deleted": int(deleted)})
