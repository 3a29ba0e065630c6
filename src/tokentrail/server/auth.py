"""The one place where requests are authenticated and authorized.

``authenticate(request) -> Principal`` says who is asking; ``require(request, scope, project)``
says whether they may, and which project the request is about. Every route calls ``require``
(``tests/security/test_route_table.py`` holds every route of the app to it).

Credentials, in order:

- ``X-Tokentrail-Key: tt_...``: a tokentrail key beside another credential (the gateway, where
  ``Authorization`` carries the provider's key);
- ``Authorization: Bearer tt_...`` or ``x-api-key: tt_...``: what OTel exporters send through
  ``OTEL_EXPORTER_OTLP_HEADERS``, the SDK and the CLI send from ``TOKENTRAIL_API_KEY``;
- ``Authorization: Bearer <metrics_token>``: the scrape token, scope ``metrics`` only;
- ``Authorization: Basic`` with a configured Langfuse key pair: scope ``ingest`` on its project.
  Basic credentials are only read on ``/api/public/`` paths or when the user part is a Langfuse
  public key (``pk-lf-...``), so a reverse proxy's own Basic auth passing through is left alone;
- the UI's session cookie (``tokentrail.auth.sessions``, when installed).

A Bearer or ``x-api-key`` value that is not a tokentrail key (a provider key on its way through the
gateway) is not ours and is ignored; one that looks like a tokentrail key and is not a live key
gets 401. Secrets are compared in constant time and never logged or echoed.

Open mode: while no API key was ever made and the server listens on loopback (or was started with
``--insecure``), a request without credentials is ``local``, with every scope on every project, as
before keys existed. Once a key is made, every request needs one (revoking it does not reopen).
Langfuse pairs and the scrape token do not close open mode: they only open their own paths.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request

from tokentrail.auth.keys import ALL_PROJECTS, SCOPES, KeyCache, looks_like_key
from tokentrail.config import Settings
from tokentrail.errors import BadRequest, TokentrailError

log = logging.getLogger("tokentrail.server")

_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LANGFUSE_PATH_PREFIX = "/api/public/"
LANGFUSE_PUBLIC_KEY_PREFIX = "pk-lf-"
HOW_TO_CONFIGURE = ("set TOKENTRAIL_LANGFUSE_KEYS (or --langfuse-keys) to 'PUBLIC_KEY:SECRET_KEY=PROJECT' "
                    "pairs, comma separated")
NEEDS_KEY = ("this server needs an API key: send 'Authorization: Bearer tt_...' (or x-api-key, or "
             "X-Tokentrail-Key); make one with `tokentrail keys create`")
_STATE = "tokentrail.principal"  # the request's principal, kept in its ASGI scope


class Unauthorized(TokentrailError):
    status = 401


class Forbidden(TokentrailError):
    status = 403


class ConfigError(TokentrailError):
    status = 500


@dataclass(frozen=True)
class Principal:
    """Who is asking: ``actor`` names them (``key:tt_9f3a1cb2``, ``user:alice``, ``langfuse:pk-lf-..``,
    ``local``); ``project`` is the one a request is about when it names none ("": the data or the
    default project decides); ``projects`` is the set they may touch (None: every project)."""

    actor: str
    project: str
    scopes: frozenset[str]
    projects: frozenset[str] | None

    def can(self, scope: str, project: str) -> bool:
        return scope in self.scopes and (self.projects is None or project in self.projects)


ALL_SCOPES = frozenset(SCOPES)
INGEST_ONLY = frozenset({"ingest"})
LOCAL = Principal(actor="local", project="", scopes=ALL_SCOPES, projects=None)
SCRAPER = Principal(actor="metrics-token", project="", scopes=frozenset({"metrics"}), projects=None)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def parse_langfuse_keys(spec: str) -> dict[str, tuple[str, str]]:
    """``'pk:sk=project, ...'`` (or ``@FILE``, one pair a line, ``#`` comments) ->
    {public key: (secret key, project)}. Raises ValueError naming the bad entry, not its secret."""
    text = spec.strip()
    if text.startswith("@"):
        text = Path(text[1:]).expanduser().read_text()
        text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    keys: dict[str, tuple[str, str]] = {}
    for n, entry in enumerate(e.strip() for e in re.split(r"[,\s]+", text)):
        if not entry:
            continue
        pair, eq, project = entry.rpartition("=")
        public, colon, secret = pair.partition(":")
        if not (eq and colon and public and secret):
            raise ValueError(f"langfuse_keys entry {n + 1} is not PUBLIC_KEY:SECRET_KEY=PROJECT")
        if not _PROJECT.match(project):
            raise ValueError(f"langfuse_keys entry {n + 1} ({public}): project must be 1-64 letters, digits, "
                             "'_', '.' or '-'")
        keys[public] = (secret, project)
    return keys


@lru_cache(maxsize=8)
def _keys_cached(spec: str, mtime: float) -> dict[str, tuple[str, str]]:
    return parse_langfuse_keys(spec)


def _langfuse_keys(request: Request) -> dict[str, tuple[str, str]]:
    try:
        spec = request.app.state.runtime.settings.langfuse_keys
    except (AttributeError, KeyError):
        return {}
    if not spec.strip():
        return {}
    mtime = 0.0
    if spec.strip().startswith("@"):  # re-read when the file changes (key rotation without restart)
        try:
            mtime = Path(spec.strip()[1:]).expanduser().stat().st_mtime
        except OSError as e:
            raise ConfigError(f"langfuse_keys file cannot be read: {e}") from e
    try:
        return _keys_cached(spec, mtime)
    except (ValueError, OSError) as e:
        log.error("bad langfuse_keys setting: %s", e)
        raise ConfigError(f"bad langfuse_keys setting: {e}") from e


def _basic_principal(request: Request) -> Principal | None:
    """The project of a Langfuse key pair in ``Authorization: Basic``; None: no such header here."""
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    langfuse_path = request.url.path.startswith(LANGFUSE_PATH_PREFIX)
    try:
        public, colon, secret = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        public = colon = secret = ""
    if not colon:
        if langfuse_path:
            raise Unauthorized("Authorization: Basic must hold base64(PUBLIC_KEY:SECRET_KEY)")
        return None
    if not (langfuse_path or public.startswith(LANGFUSE_PUBLIC_KEY_PREFIX)):
        return None  # not Langfuse credentials (e.g. a reverse proxy's Basic auth): not ours to judge
    keys = _langfuse_keys(request)
    if not keys:
        raise Unauthorized(f"this server has no Langfuse keys configured: {HOW_TO_CONFIGURE}")
    known = keys.get(public)
    # compare against something even for an unknown key, so timing does not tell which keys exist
    expected = known[0] if known else "\0" * max(len(secret), 1)
    if not hmac.compare_digest(expected.encode(), secret.encode()) or known is None:
        raise Unauthorized("unknown Langfuse public key or wrong secret key")
    project = known[1]
    return Principal(actor=f"langfuse:{public}", project=project, scopes=INGEST_ONLY,
                     projects=frozenset({project}))


def is_loopback(host: str) -> bool:
    """The listen address is reachable only from this machine."""
    if host.strip("[]") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def open_mode(request: Request) -> bool:
    """No key and no UI account was ever made and the server is on loopback (or started with --insecure)."""
    from tokentrail.auth.accounts import any_accounts

    rt = request.app.state.runtime
    return not rt.keys.any_made and not any_accounts(rt.store) and (is_loopback(rt.settings.host)
                                                                    or rt.settings.insecure)


def _key_principal(request: Request, raw: str) -> Principal:
    key = request.app.state.runtime.keys.lookup(raw)
    if key is None:
        raise Unauthorized("unknown, revoked or expired API key")
    if key.project == ALL_PROJECTS:
        return Principal(actor=f"key:{key.prefix}", project="", scopes=key.effective_scopes, projects=None)
    return Principal(actor=f"key:{key.prefix}", project=key.project, scopes=key.effective_scopes,
                     projects=frozenset({key.project}))


def _token_principal(request: Request) -> Principal | None:
    """A tokentrail key (or the scrape token) in the request's headers; None: there is none."""
    headers = request.headers
    explicit = headers.get("x-tokentrail-key", "").strip()
    if explicit:
        return _key_principal(request, explicit)
    scheme, _, bearer = headers.get("authorization", "").strip().partition(" ")
    bearer = bearer.strip() if scheme.lower() == "bearer" else ""
    for value in (bearer, headers.get("x-api-key", "").strip()):
        if looks_like_key(value):
            return _key_principal(request, value)
    token = request.app.state.runtime.settings.metrics_token
    if bearer and token and hmac.compare_digest(bearer.encode(), token.encode()):
        return SCRAPER
    return None


@lru_cache(maxsize=1)
def _session_hook() -> Callable[[Request], Principal | None] | None:
    try:
        from tokentrail.auth.sessions import principal_from_request
    except ImportError:
        return None
    return principal_from_request


def authenticate(request: Request) -> Principal:
    """Who sent ``request`` (401 when nobody we know, outside open mode). Worked out once per request."""
    found = request.scope.get(_STATE)
    if found is not None:
        return found
    principal = _basic_principal(request) or _token_principal(request)
    if principal is None:
        hook = _session_hook()
        principal = hook(request) if hook is not None else None
    if principal is None:
        if not open_mode(request):
            raise Unauthorized(NEEDS_KEY)
        principal = LOCAL
    request.scope[_STATE] = principal
    return principal


def named_project(request: Request, project: str | None = None, query: bool = True) -> str:
    """The project a request names: ``project`` (e.g. from its body), ``?project=`` (unless ``query`` is
    False: the gateway's query string is the upstream's) or the ``X-Tokentrail-Project`` header; ""
    when it names none."""
    named = project or (request.query_params.get("project") if query else "") \
        or request.headers.get("x-tokentrail-project") or ""
    if named and not _PROJECT.match(named):
        raise BadRequest("the project (?project=, X-Tokentrail-Project or the body) must be 1-64 letters, digits, "
                         "'_', '.' or '-'")
    return named


def require(request: Request, scope: str, project: str | None = None, query: bool = True) -> Principal:
    """The request's principal, if it holds ``scope`` on the project the request is about (401/403
    otherwise). The returned principal's ``project`` is that project: the one named (``project``,
    ``?project=``, ``X-Tokentrail-Project``), else the principal's own; "" when neither names one
    (the data, or the default project, decides)."""
    principal = authenticate(request)
    resolved = named_project(request, project, query) or principal.project
    if principal.projects is not None and resolved not in principal.projects:
        raise Forbidden(f"{principal.actor} may not use project {resolved!r}")
    if scope not in principal.scopes:
        held = ", ".join(sorted(principal.scopes)) or "none"
        raise Forbidden(f"this needs the {scope} scope; {principal.actor} holds: {held}")
    return replace(principal, project=resolved) if resolved != principal.project else principal


def project_of(request: Request, principal: Principal) -> str:
    """The project to read: the principal's resolved one, else the default project."""
    return principal.project or request.app.state.runtime.settings.default_project


def require_server_wide(request: Request, scope: str) -> Principal:
    """``require`` for what covers every project (Prometheus metrics, ingest counters, the quarantine):
    a key of one project is refused (403) even with the scope."""
    principal = require(request, scope)
    if principal.projects is not None:
        raise Forbidden(f"this covers every project: it needs a server-wide key (project '*') with the {scope} "
                        f"scope; {principal.actor} is a key of {', '.join(sorted(principal.projects))}")
    return principal


def needs(scope: str) -> Callable[[Request], None]:
    """A FastAPI dependency checking ``scope`` before the body is read and validated (so a caller
    without a key gets 401, not a 422 about a body it may not send)."""
    def check(request: Request) -> None:
        require(request, scope)

    return check


def content_hidden(doc: dict, principal: Principal) -> dict:
    """A trace or session read without the read-content scope says why its content is missing."""
    if not doc.get("content_permitted", True):
        doc["content_hidden"] = (f"prompts and responses are hidden: {principal.actor} does not hold the read-content "
                                 "scope for this project")
    return doc


def exposure(settings: Settings, keys: KeyCache) -> str:
    """At start: a one-line notice of how the server is protected; ConfigError for a non-loopback
    listen address while no key (nor UI account) exists (unless ``insecure``)."""
    from tokentrail.auth.accounts import any_accounts

    if keys.any_made or any_accounts(keys.store):
        return "API keys required on every route but /healthz, /readyz and the UI's files"
    if is_loopback(settings.host):
        return ("OPEN: no API key exists and the server listens on loopback: every local request may do "
                "everything (`tokentrail keys create` makes the first key and closes it)")
    if settings.insecure:
        return (f"INSECURE: no API key exists and the server listens on {settings.host} (--insecure): anyone who "
                "reaches the port may read and write everything")
    raise ConfigError(f"refusing to listen on {settings.host} with no API key: make an admin key first "
                      "(`tokentrail keys create --project '*' --scope admin`) or pass --insecure")
