"""UI sessions: a random id in an HttpOnly cookie, its hash in the ``ui_sessions`` table.

Signing in (``POST /api/signin``, with an account's password or an API key) makes a session: 32
random bytes (``secrets.token_urlsafe``) go to the browser in the cookie ``tokentrail_session``
(HttpOnly, SameSite=Strict, Path=/, Secure when the request came over https, no Max-Age beyond
the session's expiry); the store keeps only its SHA-256, with who it is for and when it expires.
Several servers sharing a store therefore agree on sessions: each reloads the live ones every
``REFRESH_SECONDS`` (a sign-out or an expiry ends a session everywhere within seconds; on the
server that signed out, at once).

Who a session is comes from its account or key *now*, not at sign-in: disabling the account,
revoking the key or changing scopes applies to open sessions too.

CSRF: a state-changing request (anything but GET, HEAD, OPTIONS) that authenticates with the
cookie must also carry ``X-Tokentrail-CSRF`` (the session's token, which only a same-origin page
can read, from ``GET /api/me``), and, when it has an ``Origin`` header, come from the server's
own origin. SameSite=Strict already keeps the cookie off cross-site requests; these two checks
hold even for a browser that ignores SameSite.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tokentrail.auth import accounts
from tokentrail.storage.backend import Store, write_generation

if TYPE_CHECKING:
    from starlette.requests import Request

    from tokentrail.server.auth import Principal

log = logging.getLogger("tokentrail.auth")

COOKIE = "tokentrail_session"
CSRF_HEADER = "x-tokentrail-csrf"
REFRESH_SECONDS = 2.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_COLUMNS = "id_hash, kind, subject, created_at, expires_at, ended_at, ip, user_agent, version"


@dataclass(frozen=True)
class Session:
    id_hash: str
    kind: str  # "account" (subject: its name) or "key" (subject: the key's SHA-256)
    subject: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime  # NEVER: not signed out

    def live(self, now: datetime | None = None) -> bool:
        return self.ended_at == NEVER and (now or datetime.now(UTC)) < self.expires_at


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def csrf_token(raw: str) -> str:
    """The CSRF token of a session: derived from its id, so nothing more is stored."""
    return hmac.new(raw.encode(), b"tokentrail csrf", hashlib.sha256).hexdigest()


def _naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def _aware(value: Any) -> datetime:
    t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _write(store: Store, s: Session, ip: str = "", user_agent: str = "") -> None:
    store.command(
        f"INSERT INTO {store.database}.ui_sessions ({_COLUMNS}) VALUES ({{id_hash:String}}, {{kind:String}}, "
        "{subject:String}, {created_at:DateTime64(3)}, {expires_at:DateTime64(3)}, {ended_at:DateTime64(3)}, "
        "{ip:String}, {user_agent:String}, {version:DateTime64(6)})",
        {"id_hash": s.id_hash, "kind": s.kind, "subject": s.subject, "created_at": _naive(s.created_at),
         "expires_at": _naive(s.expires_at), "ended_at": _naive(s.ended_at), "ip": ip, "user_agent": user_agent[:300],
         "version": _naive(datetime.now(UTC))})


class SessionCache:
    """Live sessions by id hash, reloaded every ``every`` seconds in its own thread."""

    def __init__(self, store: Store, every: float = REFRESH_SECONDS) -> None:
        self.store = store
        self.every = every
        self.by_hash: dict[str, Session] = {}
        self.ended: dict[str, datetime] = {}  # ended here (a reload begun before may still see them live)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._generation = write_generation(store, "ui_sessions")  # read before the load it stands for
        self.refresh()

    def refresh(self) -> None:
        rows = self.store.query(
            f"SELECT {_COLUMNS} FROM {self.store.database}.ui_sessions FINAL "
            f"WHERE expires_at > now64(3) AND ended_at = toDateTime64(0, 3)")
        fresh = {r["id_hash"]: Session(r["id_hash"], r["kind"], r["subject"], _aware(r["created_at"]),
                                       _aware(r["expires_at"]), _aware(r["ended_at"])) for r in rows}
        now = datetime.now(UTC)
        self.ended = {h: t for h, t in self.ended.items() if t > now}
        self.by_hash = {h: v for h, v in fresh.items() if h not in self.ended}

    def put(self, s: Session) -> None:
        if s.live():
            self.by_hash = {**self.by_hash, s.id_hash: s}
        else:
            self.ended = {**self.ended, s.id_hash: s.expires_at}
            self.by_hash = {h: v for h, v in self.by_hash.items() if h != s.id_hash}

    def get(self, id_hash: str) -> Session | None:
        s = self.by_hash.get(id_hash)
        return s if s is not None and s.live() else None

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            generation = write_generation(self.store, "ui_sessions")
            if generation is not None and generation == self._generation:
                continue  # nothing written since the last reload: an idle server queries nothing
            try:
                self.refresh()
                self._generation = generation
            except Exception as e:  # keep what we know; try again
                log.debug("sessions: reload failed (%s)", e)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="tokentrail-sessions", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()


_caches: weakref.WeakKeyDictionary[Any, SessionCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(store: Store) -> SessionCache:
    with _caches_lock:
        cache = _caches.get(store)
        if cache is None:
            cache = _caches[store] = SessionCache(store)
            cache.start()
        return cache


def start_caches(store: Store) -> None:
    """Load accounts and live sessions and start their reload threads: call at server start, so that no
    request ever waits on the store for them (requests find them with no I/O)."""
    accounts.cache_for(store)
    cache_for(store)


def stop(store: Store) -> None:
    """Stop the session and account caches of ``store`` (it is about to close)."""
    with _caches_lock:
        cache = _caches.pop(store, None)
    if cache is not None:
        cache.stop()
    accounts.stop(store)


def start(store: Store, kind: str, subject: str, hours: float, ip: str = "", user_agent: str = "") -> str:
    """Make a session; returns its raw id (for the cookie only)."""
    raw = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    s = Session(_hash(raw), kind, subject, now, now + timedelta(hours=hours), NEVER)
    _write(store, s, ip, user_agent)
    cache_for(store).put(s)
    return raw


def end(store: Store, raw: str) -> bool:
    """Sign out: the session stops working here at once, on other servers within seconds."""
    cache = cache_for(store)
    s = cache.get(_hash(raw))
    if s is None:
        return False
    ended = Session(s.id_hash, s.kind, s.subject, s.created_at, s.expires_at, datetime.now(UTC))
    _write(store, ended)
    cache.put(ended)
    return True


def cookie_session(request: Request) -> tuple[str, Session] | None:
    raw = request.cookies.get(COOKIE, "")
    if not _TOKEN.match(raw):
        return None
    s = cache_for(request.app.state.runtime.store).get(_hash(raw))
    return (raw, s) if s is not None else None


def principal_for(request: Request, s: Session) -> Principal | None:
    """Who a session is now: its account or its key as they stand (None: disabled, revoked, expired)."""
    from tokentrail.server.auth import Principal

    rt = request.app.state.runtime
    if s.kind == "account":
        account = accounts.cache_for(rt.store).get(s.subject)
        if account is None:
            return None
        projects = account.projects
        return Principal(actor=account.actor, project=min(projects) if projects else "",
                         scopes=account.effective_scopes, projects=projects)
    key = rt.keys.by_hash.get(s.subject)
    if key is None or not key.live():
        return None
    from tokentrail.auth.keys import ALL_PROJECTS

    everywhere = key.project == ALL_PROJECTS
    return Principal(actor=f"key:{key.prefix}", project="" if everywhere else key.project,
                     scopes=key.effective_scopes, projects=None if everywhere else frozenset({key.project}))


def same_origin(request: Request) -> bool:
    """The request's Origin (when it has one) is this server's own."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc.lower() == request.headers.get("host", "").lower()


def principal_from_request(request: Request) -> Principal | None:
    """The principal of the request's session cookie; None without a live session. A state-changing
    request carried by the cookie without the CSRF token, or from a foreign origin, is refused (403)."""
    found = cookie_session(request)
    if found is None:
        return None
    raw, s = found
    if request.method not in SAFE_METHODS:
        from tokentrail.server.auth import Forbidden

        if not same_origin(request):
            raise Forbidden("cross-site request refused: its Origin is not this server")
        if not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), csrf_token(raw)):
            raise Forbidden(f"a request signed in by cookie must carry the {CSRF_HEADER} header (GET /api/me "
                            "gives it)")
    return principal_for(request, s)
