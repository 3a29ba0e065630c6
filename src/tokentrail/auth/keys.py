"""API keys: made, listed, revoked and expired here; verified from an in-memory cache.

A key is ``tt_`` + 43 random URL-safe characters (``secrets.token_urlsafe(32)``, 256 bits). The store
keeps only its SHA-256 (enough for a high-entropy secret: nothing to brute-force) and a short
prefix (``tt_9f3a1cb2``) that names the key in listings, logs and the audit log; the raw key is
shown once, when it is made.

Each key belongs to one project, or to every project (``*``: a server-wide key), and holds
scopes: ``ingest``, ``read``, ``read-content`` (implies ``read``), ``metrics`` (Prometheus
``/metrics``: server-wide keys only), ``admin`` (implies every other scope).

Verification never touches the store: ``KeyCache`` holds every key by hash and reloads the
table every ``REFRESH_SECONDS`` in its own thread, so a revoke or an expiry takes effect within
seconds on every server sharing the store.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tokentrail.errors import BadRequest, NotFound
from tokentrail.storage.backend import Store, write_generation

log = logging.getLogger("tokentrail.auth")

KEY_PREFIX = "tt_"
PREFIX_CHARS = 8  # random characters shown after "tt_"
ALL_PROJECTS = "*"
SCOPES = ("ingest", "read", "read-content", "metrics", "admin")
IMPLIED = {"admin": frozenset(SCOPES), "read-content": frozenset({"read-content", "read"})}
REFRESH_SECONDS = 2.0
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # expires_at / revoked_at of a key that does not expire / is live
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    prefix: str
    hash: str
    project: str  # "*" = every project
    scopes: frozenset[str]  # as granted (see ``effective_scopes``)
    name: str
    created_at: datetime
    expires_at: datetime  # NEVER: does not expire
    revoked_at: datetime  # NEVER: not revoked
    created_by: str

    @property
    def effective_scopes(self) -> frozenset[str]:
        return frozenset().union(*(IMPLIED.get(s, {s}) for s in self.scopes))

    def live(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        return self.revoked_at == NEVER and (self.expires_at == NEVER or now < self.expires_at)

    def state(self) -> str:
        if self.revoked_at != NEVER:
            return "revoked"
        return "active" if self.live() else "expired"

    def describe(self) -> dict[str, Any]:
        """What a listing shows: never the hash."""
        def iso(t: datetime) -> str | None:
            return None if t == NEVER else t.isoformat()

        return {"key_id": self.key_id, "prefix": self.prefix, "project": self.project,
                "scopes": sorted(self.scopes), "name": self.name, "created_at": iso(self.created_at),
                "expires_at": iso(self.expires_at), "revoked_at": iso(self.revoked_at),
                "created_by": self.created_by, "state": self.state()}


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def looks_like_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX) and len(value) > len(KEY_PREFIX) + PREFIX_CHARS


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``4w`` -> timedelta (BadRequest otherwise)."""
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise BadRequest(f"expiry {text!r} is not like 90m, 12h, 30d or 4w")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def check_grant(project: str, scopes: Iterable[str]) -> frozenset[str]:
    """The scopes of a new key, validated (BadRequest naming the problem)."""
    granted = frozenset(s.strip() for s in scopes if s.strip())
    if not granted:
        raise BadRequest(f"a key needs at least one scope: {', '.join(SCOPES)}")
    unknown = granted - set(SCOPES)
    if unknown:
        raise BadRequest(f"unknown scope(s) {', '.join(sorted(unknown))}: use {', '.join(SCOPES)}")
    if project != ALL_PROJECTS and not _PROJECT.match(project):
        raise BadRequest("project must be 1-64 letters, digits, '_', '.' or '-', or '*' for every project")
    if "metrics" in granted and project != ALL_PROJECTS:
        raise BadRequest("the metrics scope covers every project: give it to a server-wide key (--project '*')")
    return granted


_COLUMNS = "key_id, prefix, hash, project, scopes, name, created_at, expires_at, revoked_at, created_by, version"


def _write(store: Store, key: ApiKey) -> None:
    store.command(
        f"INSERT INTO {store.database}.api_keys ({_COLUMNS}) VALUES ({{key_id:String}}, {{prefix:String}}, "
        "{hash:String}, {project:String}, {scopes:String}, {name:String}, {created_at:DateTime64(3)}, "
        "{expires_at:DateTime64(3)}, {revoked_at:DateTime64(3)}, {created_by:String}, {version:DateTime64(6)})",
        {"key_id": key.key_id, "prefix": key.prefix, "hash": key.hash, "project": key.project,
         "scopes": ",".join(sorted(key.scopes)), "name": key.name, "created_by": key.created_by,
         **{k: _naive(getattr(key, k)) for k in ("created_at", "expires_at", "revoked_at")},
         "version": _naive(datetime.now(UTC))})


def _naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def _aware(value: Any) -> datetime:
    t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _row_key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(key_id=row["key_id"], prefix=row["prefix"], hash=row["hash"], project=row["project"],
                  scopes=frozenset(s for s in row["scopes"].split(",") if s), name=row["name"],
                  created_at=_aware(row["created_at"]), expires_at=_aware(row["expires_at"]),
                  revoked_at=_aware(row["revoked_at"]), created_by=row["created_by"])


def load_keys(store: Store) -> list[ApiKey]:
    """Every key ever made (revoked and expired ones too), oldest first."""
    rows = store.query(f"SELECT {_COLUMNS} FROM {store.database}.api_keys FINAL ORDER BY created_at, key_id")
    return [_row_key(r) for r in rows]


def create_key(store: Store, project: str, scopes: Iterable[str], *, name: str = "",
               expires_in: timedelta | None = None, created_by: str = "") -> tuple[str, ApiKey]:
    """Make a key; returns (the raw key, shown once; its record)."""
    granted = check_grant(project, scopes)
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    key = ApiKey(key_id=uuid.uuid4().hex, prefix=raw[:len(KEY_PREFIX) + PREFIX_CHARS], hash=hash_key(raw),
                 project=project, scopes=granted, name=name[:200], created_at=now,
                 expires_at=now + expires_in if expires_in else NEVER, revoked_at=NEVER, created_by=created_by)
    _write(store, key)
    return raw, key


def find_key(keys: Iterable[ApiKey], prefix_or_id: str) -> ApiKey:
    """The one key named by its prefix (``tt_9f3a1cb2``) or key id; NotFound / BadRequest otherwise."""
    wanted = prefix_or_id.strip()
    found = [k for k in keys if wanted and (k.key_id == wanted or k.prefix == wanted
                                            or (len(wanted) > len(KEY_PREFIX) + 3 and k.prefix.startswith(wanted)))]
    if not found:
        raise NotFound(f"no key {wanted!r}")
    if len(found) > 1:
        raise BadRequest(f"{wanted!r} names {len(found)} keys: give the whole prefix or the key id")
    return found[0]


def revoke_key(store: Store, prefix_or_id: str) -> ApiKey:
    """Revoke a key (idempotent: an already revoked key keeps its first revocation time)."""
    key = find_key(load_keys(store), prefix_or_id)
    if key.revoked_at != NEVER:
        return key
    revoked = ApiKey(**{**key.__dict__, "revoked_at": datetime.now(UTC)})
    _write(store, revoked)
    return revoked


class KeyCache:
    """Every key by hash, reloaded from the store every ``every`` seconds in its own thread."""

    def __init__(self, store: Store, every: float = REFRESH_SECONDS) -> None:
        self.store = store
        self.every = every
        self.by_hash: dict[str, ApiKey] = {}
        self.any_made = False  # a key was ever made: the server is no longer open
        self.refreshed_at = 0.0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._generation = write_generation(store, "api_keys")  # read before the load it stands for
        self.refresh()

    def refresh(self) -> None:
        keys = load_keys(self.store)
        self.by_hash = {k.hash: k for k in keys}  # one assignment: readers see the old or the new map
        self.any_made = self.any_made or bool(keys)
        self.refreshed_at = datetime.now(UTC).timestamp()

    def lookup(self, raw: str) -> ApiKey | None:
        """The live key ``raw`` is, else None (unknown, revoked or expired). No I/O."""
        digest = hash_key(raw)
        key = self.by_hash.get(digest)
        if key is None or not hmac.compare_digest(key.hash, digest) or not key.live():
            return None
        return key

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            generation = write_generation(self.store, "api_keys")
            if generation is not None and generation == self._generation:
                continue  # nothing written since the last reload: an idle server queries nothing
            try:
                self.refresh()
                self._generation = generation
            except Exception as e:  # the store is down: keep the keys we know, try again
                self.failures += 1
                log.warning("api keys: reload failed (%s); keeping the %d keys loaded", e, len(self.by_hash))

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="tokentrail-keys", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
