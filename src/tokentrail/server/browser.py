"""Browser safety: what keeps a web page the user visits from using the server behind their back.

One ASGI middleware, ahead of everything (the gateway too):

- **Host check** (DNS rebinding): the ``Host`` header must be one of ``allowed_hosts`` (default: the
  loopback names and the listen address; any host when listening on a wildcard address, where keys are
  required anyway). Otherwise 421 with a JSON error. ``/healthz`` and ``/readyz`` (no data; probed by
  address) answer any Host.
- **Cross-site writes**: a POST/PUT/PATCH/DELETE whose ``Origin`` is not this server's own (or whose
  ``Sec-Fetch-Site`` says cross-site / same-site) is refused with 403, unless the origin is listed in
  ``cors_origins``. Browsers send ``Origin`` on every cross-origin write; exporters, SDKs and the CLI
  send none and pass.
- **Real content types**: a write with a body must say what it is: JSON or protobuf on the OTLP
  routes, JSON on the API, JSON lines / octet-stream for batch chunks (gzip-encoded versions of any
  of them). ``text/plain``, forms and multipart (what a page can send without a CORS preflight) get
  415. A body with no Content-Type is taken as the route's default format, as OTLP clients expect.
  The gateway's routes pass any type on (the upstream judges them); the Origin check still applies.
- **CORS** only when ``cors_origins`` is set (Starlette's CORSMiddleware, preflight included).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import orjson
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from tokentrail.config import Settings

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PROBES = frozenset({"/healthz", "/readyz"})  # no data: orchestrators probe them by pod IP, whatever allowed_hosts says
_READ = frozenset({b"host", b"origin", b"sec-fetch-site", b"content-type", b"content-length", b"transfer-encoding"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
_OTLP = frozenset({"application/x-protobuf", "application/protobuf", "application/json"})
_JSON = frozenset({"application/json"})
_CHUNK = frozenset({"application/octet-stream", "application/x-ndjson", "application/jsonl", "application/json"})
# (path prefix, content types its writes accept); first match wins; None: not checked (the gateway)
CONTENT_TYPES: tuple[tuple[str, frozenset[str] | None], ...] = (
    ("/gateway", None),
    ("/v1/", _OTLP),
    ("/api/public/otel/", _OTLP),
    ("/api/ingest/files/chunk", _CHUNK),
    ("/", _JSON),
)


def _hosts(spec: str, bind: str) -> frozenset[str] | None:
    """The Host names answered; None: any."""
    names = {h.strip().lower().rstrip(".") for h in spec.split(",") if h.strip()}
    if "*" in names or (not names and bind.strip("[]") in WILDCARDS):
        return None
    if not names:
        names = set(LOOPBACK_HOSTS) | {bind.strip("[]").lower()}
    return frozenset(names)


def _hostname(host: str) -> str:
    """``example.com:4318`` -> ``example.com``; ``[::1]:4318`` -> ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _origin(value: str) -> str:
    """An origin normalized for comparison: ``scheme://host[:port]`` in lower case."""
    parts = urlsplit(value.strip().lower())
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else value.strip().lower()


async def _refuse(send: Send, status: int, message: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": orjson.dumps({"error": message})})


class BrowserSafety:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.hosts = _hosts(settings.allowed_hosts, settings.host)
        self.origins = frozenset(_origin(o) for o in settings.cors_origins.split(",") if o.strip())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in _READ}
        host = headers.get("host", "")
        if self.hosts is not None and _hostname(host) not in self.hosts and scope["path"] not in PROBES:
            return await _refuse(send, 421, f"this server does not answer to host {host[:100]!r} "
                                 "(setting allowed_hosts)")
        if scope["method"] in WRITES:
            problem = self._cross_site(headers) or self._content_type(headers, scope)
            if problem:
                return await _refuse(send, *problem)
        await self.app(scope, receive, send)

    def _cross_site(self, headers: dict[str, str]) -> tuple[int, str] | None:
        origin = headers.get("origin")
        if origin is not None:
            # this server's own origin: the same host and port (the scheme may differ behind a TLS proxy)
            if urlsplit(origin.strip().lower()).netloc == headers.get("host", "").lower() or _origin(origin) in self.origins:
                return None
            return 403, f"cross-site request from origin {origin[:100]!r} refused (setting cors_origins)"
        if headers.get("sec-fetch-site", "none") not in ("same-origin", "none"):
            return 403, "cross-site request refused (Sec-Fetch-Site)"
        return None

    def _content_type(self, headers: dict[str, str], scope: Scope) -> tuple[int, str] | None:
        has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if not has_body or not ctype:
            return None
        path = scope["path"]
        allowed = next(types for prefix, types in CONTENT_TYPES if path.startswith(prefix))
        if allowed is None or ctype in allowed:
            return None
        return 415, f"Content-Type {ctype!r} is not accepted here: send {' or '.join(sorted(allowed))}"


def install(app: FastAPI, settings: Settings) -> None:
    """Add the middlewares to a FastAPI app (call last: it must wrap everything, the gateway too)."""
    if settings.cors_origins.strip():
        app.add_middleware(CORSMiddleware, allow_origins=[o.strip() for o in settings.cors_origins.split(",")
                                                          if o.strip()],
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"], allow_headers=["*"],
                           expose_headers=["x-tokentrail-request-id"], max_age=600)
    app.add_middleware(BrowserSafety, settings=settings)
