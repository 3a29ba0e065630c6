"""Saved views: a page and its filters under a name, per project, shared by its readers; saving a name again
replaces it; deleting removes it; bad input is a 400 that says why; another project never sees them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import ServerThread, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with running_server(tmp_path_factory.mktemp("views")) as s:
        yield s


def _views(server: ServerThread, project: str) -> list[dict]:
    r = server.client.get("/api/views", params={"project": project})
    assert r.status_code == 200, r.text
    return r.json()["views"]


def test_save_list_replace_and_delete(server: ServerThread) -> None:
    c = server.client
    r = c.post("/api/views", params={"project": "shop"},
               json={"name": "  Checkout   errors ", "page": "traces",
                     "query": "?route=checkout&status=error&range=7d&project=other&q=refund"})
    assert r.status_code == 200, r.text
    saved = r.json()
    # the name's spaces collapsed; the project dropped (a view belongs to the project it was saved in)
    assert (saved["name"], saved["page"], saved["query"]) == ("Checkout errors", "traces",
                                                              "route=checkout&status=error&range=7d&q=refund")
    assert saved["created_by"] == "local" and not saved["replaced"]
    c.post("/api/views", params={"project": "shop"}, json={"name": "Costly users", "page": "users",
                                                          "query": "order=cost"})
    assert [v["name"] for v in _views(server, "shop")] == ["Checkout errors", "Costly users"]
    assert _views(server, "other") == []
    # the same name (any case) again: replaced in place, same id
    r = c.post("/api/views", params={"project": "shop"}, json={"name": "checkout ERRORS", "page": "overview",
                                                               "query": "route=checkout"})
    assert r.json()["replaced"] and r.json()["view_id"] == saved["view_id"]
    views = _views(server, "shop")
    assert [(v["name"], v["page"], v["query"]) for v in views] == [("checkout ERRORS", "overview", "route=checkout"),
                                                                  ("Costly users", "users", "order=cost")]
    # deleted: gone; deleting again, or from another project, is a 404
    assert c.delete(f"/api/views/{saved['view_id']}", params={"project": "other"}).status_code == 404
    assert c.delete(f"/api/views/{saved['view_id']}", params={"project": "shop"}).status_code == 200
    assert [v["name"] for v in _views(server, "shop")] == ["Costly users"]
    assert c.delete(f"/api/views/{saved['view_id']}", params={"project": "shop"}).status_code == 404


@pytest.mark.parametrize("body, says", [
    ({"name": "", "page": "cost"}, "name"),
    ({"name": "x" * 101, "page": "cost"}, "name"),
    ({"name": "ok", "page": "admin"}, "page must be one of"),
    ({"name": "ok", "page": "cost", "query": "a=" + "b" * 3000}, "longer than"),
])
def test_bad_views_are_refused_with_the_reason(server: ServerThread, body: dict, says: str) -> None:
    r = server.client.post("/api/views", json=body)
    assert r.status_code == 400 and says in r.json()["error"], r.text
