"""UI accounts, made by an admin: a name, a scrypt password hash, projects and scopes.

The password is hashed with ``hashlib.scrypt`` (n=2^14, r=8, p=1, a 16-byte random salt, 32-byte
key), stored as ``scrypt$n$r$p$salt$hash`` (base64), and compared in constant time. A sign-in
with an unknown name still runs one scrypt, so timing does not tell which names exist.

Accounts are read from an in-memory cache (``AccountCache``), reloaded from the store every
``REFRESH_SECONDS`` in its own thread: disabling an account, or changing its scopes, takes effect
within seconds on every server sharing the store. Scopes are those of API keys (``read``,
``read-content`` (implies read), ``ingest``, ``admin`` (implies every scope)); projects are a list,
or ``*`` for every project.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from tokentrail.auth.keys import ALL_PROJECTS, IMPLIED, SCOPES
from tokentrail.errors import BadRequest, NotFound
from tokentrail.storage.backend import Store, write_generation

log = logging.getLogger("tokentrail.auth")

SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 1 << 14, 8, 1, 32
MIN_PASSWORD = 10
REFRESH_SECONDS = 2.0
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
ACCOUNT_SCOPES = tuple(s for s in SCOPES if s != "metrics")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_COLUMNS = "name, password_hash, projects, scopes, created_at, created_by, disabled_at, version"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LEN)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


_DUMMY = hash_password(secrets.token_urlsafe(16))  # checked against for unknown names (same cost)


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True)
class Account:
    name: str
    password_hash: str
    projects: frozenset[str] | None  # None: every project
    scopes: frozenset[str]  # as granted
    created_at: datetime
    created_by: str
    disabled_at: datetime  # NEVER: active

    @property
    def actor(self) -> str:
        return f"user:{self.name}"

    @property
    def effective_scopes(self) -> frozenset[str]:
        return frozenset().union(*(IMPLIED.get(s, {s}) for s in self.scopes))

    @property
    def active(self) -> bool:
        return self.disabled_at == NEVER

    def describe(self) -> dict[str, Any]:
        """What a listing shows: never the hash."""
        return {"name": self.name, "projects": sorted(self.projects) if self.projects is not None else [ALL_PROJECTS],
                "scopes": sorted(self.scopes), "created_at": self.created_at.isoformat(),
                "created_by": self.created_by, "state": "active" if self.active else "disabled",
                "disabled_at": None if self.active else self.disabled_at.isoformat()}


def check_account(name: str, projects: Iterable[str], scopes: Iterable[str]) -> tuple[frozenset[str] | None,
                                                                                      frozenset[str]]:
    """Validated (projects, scopes) of an account; BadRequest naming the problem."""
    if not _NAME.match(name):
        raise BadRequest("account name must be 1-64 letters, digits, '_', '.', '@' or '-'")
    wanted = frozenset(p.strip() for p in projects if p.strip())
    if not wanted:
        raise BadRequest("an account needs at least one project (--project P, or '*' for every project)")
    bad = [p for p in wanted if p != ALL_PROJECTS and not _PROJECT.match(p)]
    if bad:
        raise BadRequest(f"project {bad[0]!r} must be 1-64 letters, digits, '_', '.' or '-', or '*'")
    granted = frozenset(s.strip() for s in scopes if s.strip())
    if not granted:
        raise BadRequest(f"an account needs at least one scope: {', '.join(ACCOUNT_SCOPES)}")
    unknown = granted - set(ACCOUNT_SCOPES)
    if unknown:
        raise BadRequest(f"unknown scope(s) {', '.join(sorted(unknown))}: use {', '.join(ACCOUNT_SCOPES)}")
    return (None if ALL_PROJECTS in wanted else wanted), granted


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"a password needs at least {MIN_PASSWORD} characters")


def _naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def _aware(value: Any) -> datetime:
    t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _write(store: Store, account: Account) -> None:
    projects = ",".join(sorted(account.projects)) if account.projects is not None else ALL_PROJECTS
    store.command(
        f"INSERT INTO {store.database}.accounts ({_COLUMNS}) VALUES ({{name:String}}, {{password_hash:String}}, "
        "{projects:String}, {scopes:String}, {created_at:DateTime64(3)}, {created_by:String}, "
        "{disabled_at:DateTime64(3)}, {version:DateTime64(6)})",
        {"name": account.name, "password_hash": account.password_hash, "projects": projects,
         "scopes": ",".join(sorted(account.scopes)), "created_at": _naive(account.created_at),
         "created_by": account.created_by, "disabled_at": _naive(account.disabled_at),
         "version": _naive(datetime.now(UTC))})
    cache = _caches.get(store)
    if cache is not None:
        cache.put(account)


def _row(row: dict[str, Any]) -> Account:
    projects = frozenset(p for p in row["projects"].split(",") if p)
    return Account(name=row["name"], password_hash=row["password_hash"],
                   projects=None if ALL_PROJECTS in projects else projects,
                   scopes=frozenset(s for s in row["scopes"].split(",") if s), created_at=_aware(row["created_at"]),
                   created_by=row["created_by"], disabled_at=_aware(row["disabled_at"]))


def load_accounts(store: Store) -> list[Account]:
    rows = store.query(f"SELECT {_COLUMNS} FROM {store.database}.accounts FINAL ORDER BY name")
    return [_row(r) for r in rows]


def create_account(store: Store, name: str, projects: Iterable[str], scopes: Iterable[str], password: str,
                   created_by: str = "") -> Account:
    """Make an account (BadRequest if the name is taken, even by a disabled account)."""
    wanted, granted = check_account(name, projects, scopes)
    check_password(password)
    if any(a.name == name for a in load_accounts(store)):
        raise BadRequest(f"an account named {name!r} exists already")
    account = Account(name=name, password_hash=hash_password(password), projects=wanted, scopes=granted,
                      created_at=datetime.now(UTC), created_by=created_by, disabled_at=NEVER)
    _write(store, account)
    return account


def find_account(store: Store, name: str) -> Account:
    found = [a for a in load_accounts(store) if a.name == name]
    if not found:
        raise NotFound(f"no account {name!r}")
    return found[0]


def disable_account(store: Store, name: str) -> Account:
    """Disable an account: its sessions stop working within seconds (idempotent)."""
    account = find_account(store, name)
    if not account.active:
        return account
    disabled = replace(account, disabled_at=datetime.now(UTC))
    _write(store, disabled)
    return disabled


def set_password(store: Store, name: str, password: str) -> Account:
    check_password(password)
    account = replace(find_account(store, name), password_hash=hash_password(password))
    _write(store, account)
    return account


class AccountCache:
    """Every account by name, reloaded from the store every ``every`` seconds in its own thread."""

    def __init__(self, store: Store, every: float = REFRESH_SECONDS) -> None:
        self.store = store
        self.every = every
        self.by_name: dict[str, Account] = {}
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._generation = write_generation(store, "accounts")  # read before the load it stands for
        self.refresh()

    @property
    def any_made(self) -> bool:
        return bool(self.by_name)

    def refresh(self) -> None:
        self.by_name = {a.name: a for a in load_accounts(self.store)}

    def put(self, account: Account) -> None:
        self.by_name = {**self.by_name, account.name: account}

    def get(self, name: str) -> Account | None:
        """The active account ``name``, else None. No I/O."""
        account = self.by_name.get(name)
        return account if account is not None and account.active else None

    def verify(self, name: str, password: str) -> Account | None:
        """The active account whose password this is, else None (one scrypt either way)."""
        account = self.by_name.get(name)
        ok = verify_password(password, account.password_hash if account else _DUMMY)
        return account if ok and account is not None and account.active else None

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            generation = write_generation(self.store, "accounts")
            if generation is not None and generation == self._generation:
                continue  # nothing written since the last reload: an idle server queries nothing
            try:
                self.refresh()
                self._generation = generation
            except Exception as e:  # the store is down or closed: keep what we know
                self.failures += 1
                log.debug("accounts: reload failed (%s); keeping %d accounts", e, len(self.by_name))

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="tokentrail-accounts", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()


_caches: weakref.WeakKeyDictionary[Any, AccountCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(store: Store) -> AccountCache:
    """The running server's account cache for ``store`` (made and started on first use)."""
    with _caches_lock:
        cache = _caches.get(store)
        if cache is None:
            cache = _caches[store] = AccountCache(store)
            cache.start()
        return cache


def any_accounts(store: Store) -> bool:
    """An account was made (the server is no longer open without credentials). No I/O after the first call."""
    return cache_for(store).any_made


def stop(store: Store) -> None:
    with _caches_lock:
        cache = _caches.pop(store, None)
    if cache is not None:
        cache.stop()
