"""Every route of the app, held to authentication: on a server that has keys, each one refuses a
request without a key (401), with a key lacking its scope (403) and with a key of another project
(403 or 404), and serves the right key. The table below names each route's scope; a route the app
serves that is in neither table fails ``test_every_route_is_classified``, so a new route cannot ship
without a decision. Routes deliberately open are in ``OPEN``, each with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import APIRoute

from tests.security.keyed import ALPHA, Keyed
from tokentrail.server.auth import NEEDS_KEY

TRACE = "0123456789abcdef0123456789abcdef"
PB = {"content-type": "application/x-protobuf"}

OPEN: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "liveness probe: only says the process is up",
    ("GET", "/readyz"): "readiness probe: ingest health, no data",
    ("GET", "/"): "redirect to the UI",
    ("GET", "/ui"): "redirect to the UI",
    ("GET", "/ui/static/{path:path}"): "the UI's own files; the data they load is protected",
    ("GET", "/ui/{page:path}"): "the single-page app's HTML; the data it loads is protected",
    ("GET", "/openapi.json"): "the API's description, no data",
    ("GET", "/docs"): "the API's description, no data",
    ("GET", "/docs/oauth2-redirect"): "part of the API docs page",
    ("GET", "/redoc"): "the API's description, no data",
    ("POST", "/api/signin"): "signing in is how a browser gets a session (it checks the password or key itself)",
    ("POST", "/api/signout"): "ends the caller's own session, if any",
    ("GET", "/api/me"): "says who the caller is, or that they must sign in",
}


@dataclass(frozen=True)
class Probe:
    scope: str
    path: str = ""  # concrete path, when the template has parameters
    kwargs: dict[str, Any] = field(default_factory=dict)
    server_wide: bool = False  # covers every project: a key of one project is refused


ING = Probe("ingest", kwargs={"content": b"", "headers": PB})
READ = Probe("read")
SCOPED: dict[tuple[str, str], Probe] = {
    ("POST", "/v1/traces"): ING, ("POST", "/api/public/otel/v1/traces"): ING,
    ("POST", "/v1/logs"): ING, ("POST", "/api/public/otel/v1/logs"): ING,
    ("POST", "/v1/metrics"): ING, ("POST", "/api/public/otel/v1/metrics"): ING,
    ("POST", "/api/ingest/batch"): Probe("ingest", kwargs={"json": []}),
    ("POST", "/api/scores"): Probe("ingest", kwargs={"json": []}),
    ("POST", "/api/ingest/files/states"): Probe("ingest", kwargs={"json": {"project": ALPHA}}),
    ("POST", "/api/ingest/files/chunk"): Probe("ingest", kwargs={
        "content": b"{}\n", "headers": {"content-type": "application/octet-stream"}}),
    ("GET", "/api/stats/routes"): READ, ("GET", "/api/pricing"): READ, ("GET", "/api/scores"): READ,
    ("GET", "/api/metrics/summary"): READ, ("GET", "/api/metrics/timeseries"): READ,
    ("GET", "/api/metrics/breakdown"): READ, ("GET", "/api/cost"): READ, ("GET", "/api/quality"): READ,
    ("GET", "/api/filters/values"): READ, ("GET", "/api/traces"): READ, ("GET", "/api/sessions"): READ,
    ("GET", "/api/users"): READ, ("GET", "/api/projects"): READ, ("GET", "/api/scores/names"): READ,
    ("GET", "/api/projects/holding"): Probe("read", kwargs={"params": {"trace_id": TRACE}}),
    ("GET", "/api/views"): READ,
    ("POST", "/api/views"): Probe("read", kwargs={"json": {"name": "route-table probe", "page": "cost"}}),
    ("DELETE", "/api/views/{view_id}"): Probe("read", "/api/views/nosuchview"),
    ("GET", "/api/traces/{trace_id}"): Probe("read", f"/api/traces/{TRACE}"),
    ("GET", "/api/sessions/{session_id}"): Probe("read", "/api/sessions/probe-session"),
    ("POST", "/api/admin/recompute-costs"): Probe("admin", kwargs={"json": {"since": "2026-01-01T00:00:00Z",
                                                                            "project": ALPHA}}),
    ("POST", "/api/admin/flush"): Probe("admin", kwargs={"params": {"timeout": 5}}),
    ("GET", "/api/ingest/status"): Probe("admin", server_wide=True),
    ("GET", "/api/admin/quarantine"): Probe("admin", server_wide=True),
    ("POST", "/api/admin/quarantine/replay"): Probe("admin", kwargs={"json": {"names": ["none"]}}, server_wide=True),
    ("GET", "/api/admin/keys"): Probe("admin"),
    ("POST", "/api/admin/keys"): Probe("admin", kwargs={"json": {"project": ALPHA, "scopes": ["read"],
                                                                "name": "route-table probe"}}),
    ("DELETE", "/api/admin/keys/{prefix}"): Probe("admin", "/api/admin/keys/tt_nosuchkey"),
    ("GET", "/api/admin/audit"): Probe("admin"),
    ("GET", "/api/admin/accounts"): Probe("admin", server_wide=True),
    ("POST", "/api/admin/accounts"): Probe("admin", kwargs={"json": {}}, server_wide=True),
    ("POST", "/api/admin/accounts/{name}/disable"): Probe("admin", "/api/admin/accounts/nobody/disable",
                                                          server_wide=True),
    ("POST", "/api/admin/accounts/{name}/password"): Probe("admin", "/api/admin/accounts/nobody/password",
                                                           kwargs={"json": {}}, server_wide=True),
    ("GET", "/api/search"): Probe("read-content", kwargs={"params": {"q": "probe"}}),
    ("POST", "/api/admin/content/rotate"): Probe("admin", kwargs={"json": {}}, server_wide=True),
    ("POST", "/api/admin/purge"): Probe("admin", kwargs={"json": {"user": "nobody", "project": ALPHA}}),
    ("GET", "/api/alerts"): READ, ("GET", "/api/alerts/history"): READ, ("GET", "/api/alerts/deliveries"): READ,
    ("GET", "/api/alerts/rules"): READ, ("GET", "/api/alerts/silences"): READ,
    ("GET", "/api/alerts/prometheus-rules"): READ,
    ("PUT", "/api/alerts/rules/{name}"): Probe("admin", "/api/alerts/rules/probe-rule", kwargs={
        "json": {"kind": "unpriced_model", "project": ALPHA}}),
    ("DELETE", "/api/alerts/rules/{name}"): Probe("admin", "/api/alerts/rules/probe-rule"),
    ("POST", "/api/alerts/preview"): Probe("read", kwargs={"json": {"rule": {"kind": "unpriced_model",
                                                                            "project": ALPHA}, "since": "1h"}}),
    ("POST", "/api/alerts/test"): Probe("read", kwargs={"json": {"rule": {"kind": "unpriced_model", "project": ALPHA},
                                                                "since": "1h"}}),
    ("POST", "/api/alerts/silences"): Probe("admin", kwargs={"json": {"rule": "x", "duration": "1h"}}),
    ("DELETE", "/api/alerts/silences/{silence_id}"): Probe("admin", "/api/alerts/silences/nosuchsilence"),
    ("GET", "/api/explain"): Probe("read", kwargs={"params": {"since": "2026-01-01T00:00:00Z",
                                                             "until": "2026-01-01T01:00:00Z"}}),
    ("GET", "/api/admin/capture-policy"): Probe("admin", server_wide=True),
    ("PUT", "/api/admin/capture-policy"): Probe("admin", kwargs={"json": {"scope": f"project:{ALPHA}",
                                                                          "rule": "always"}}),
    ("POST", "/api/admin/capture-policy/marks"): Probe("admin", kwargs={"json": {"project": ALPHA,
                                                                                 "trace_id": "0" * 32}}),
    ("GET", "/metrics"): Probe("metrics", server_wide=True),
    # the gateway is mounted ahead of the router (gateway/router.py): its paths are probed here too
    ("GET", "/gateway/"): Probe("ingest"),
    ("POST", "/gateway/openai/v1/chat/completions"): Probe("ingest", kwargs={"json": {"model": "m", "messages": []}}),
    ("POST", "/gateway/anthropic/v1/messages"): Probe("ingest", kwargs={"json": {"model": "m", "messages": []}}),
}

RIGHT_KEY = {"ingest": "alpha_ingest", "read": "alpha_read", "read-content": "alpha_content", "admin": "alpha_admin"}
OTHER_PROJECT_KEY = {"ingest": "beta_ingest", "read": "beta_read", "read-content": "beta_content", "admin": "beta_admin",
                     "metrics": "beta_admin"}


def _routes(keyed: Keyed) -> set[tuple[str, str]]:
    """(method, path) of every route the running app serves (HEAD aside)."""
    app = keyed.server._server.config.app
    out = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for r in routes:
            if hasattr(r, "original_router"):  # FastAPI's included router
                walk(r.original_router.routes, prefix + r.include_context.prefix)
            elif hasattr(r, "methods") and r.methods:
                out.update((m, prefix + r.path) for m in r.methods if m != "HEAD")

    walk(app.routes, "")
    assert any(isinstance(r, APIRoute) for r in _flat(app.routes)), "no API routes found: the walk is broken"
    return out


def _flat(routes: list[Any]) -> list[Any]:
    out = []
    for r in routes:
        out.extend(_flat(r.original_router.routes) if hasattr(r, "original_router") else [r])
    return out


def test_every_route_is_classified(keyed: Keyed) -> None:
    served = _routes(keyed)
    unclassified = served - set(SCOPED) - set(OPEN)
    assert not unclassified, f"routes with no auth decision: add them to SCOPED (their scope) or OPEN (why): " \
                             f"{sorted(unclassified)}"
    gone = {k for k in set(SCOPED) | set(OPEN) if not k[1].startswith("/gateway/")} - served
    assert not gone, f"routes in the tables that the app no longer serves: {sorted(gone)}"


def _send(keyed: Keyed, method: str, path: str, probe: Probe, key: str | None, project: str | None = ALPHA):
    kwargs = {k: (dict(v) if isinstance(v, dict) else v) for k, v in probe.kwargs.items()}
    headers = {**kwargs.pop("headers", {}), **({"X-Tokentrail-Project": project} if project else {})}
    params = {**kwargs.pop("params", {}), **({"project": project} if project and not path.startswith("/gateway")
                                              else {})}
    with keyed.client(key) as c:
        return c.request(method, probe.path or path, headers=headers, params=params, **kwargs)


@pytest.mark.parametrize("route", sorted(SCOPED), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_refuses_without_key_wrong_scope_and_other_project(keyed: Keyed, route: tuple[str, str]) -> None:
    method, path = route
    probe = SCOPED[route]
    r = _send(keyed, method, path, probe, None)
    assert r.status_code == 401 and r.json()["error"], (r.status_code, r.text)
    r = _send(keyed, method, path, probe, f"all_but_{probe.scope}")
    assert r.status_code == 403 and probe.scope in r.json()["error"], (r.status_code, r.text)
    r = _send(keyed, method, path, probe, OTHER_PROJECT_KEY[probe.scope])
    assert r.status_code in (403, 404), (r.status_code, r.text)
    right = keyed.admin if probe.server_wide and probe.scope == "admin" else \
        "all_metrics" if probe.scope == "metrics" else RIGHT_KEY[probe.scope]
    r = _send(keyed, method, path, probe, right, project=None if probe.server_wide else ALPHA)
    assert r.status_code not in (401, 403), (r.status_code, r.text)


@pytest.mark.parametrize("route", sorted(OPEN), ids=lambda r: f"{r[0]} {r[1]}")
def test_open_routes_answer_without_a_key(keyed: Keyed, route: tuple[str, str]) -> None:
    method, path = route
    concrete = path.replace("{path:path}", "app.js").replace("{page:path}", "traces")
    with keyed.client() as c:
        r = c.request(method, concrete, json={} if method == "POST" else None, follow_redirects=False)
    # answered by the route itself (sign-in judges its own credentials), never refused for want of a key
    assert not (r.status_code == 401 and r.json().get("error") == NEEDS_KEY), r.text
    assert r.status_code < 500, r.text


def test_metrics_take_the_scrape_token(keyed: Keyed) -> None:
    from tests.security.keyed import METRICS_TOKEN

    with keyed.client(METRICS_TOKEN) as c:
        r = c.get("/metrics")
    assert r.status_code == 200 and "tokentrail_" in r.text
    with keyed.client("not-the-token") as c:
        assert c.get("/metrics").status_code == 401
    with keyed.client(METRICS_TOKEN) as c:  # the token opens /metrics only
        assert c.get("/api/traces").status_code == 403
