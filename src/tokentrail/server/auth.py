"""The one place where requests are authenticated.

This wave has no API keys: every request is allowed, and its project comes from the
``X-Tokentrail-Project`` header (or the data itself, or the default project). API keys
with scopes (ingest / read / read-content / admin) plug in here.

Langfuse SDK key pairs are the one exception: the Langfuse SDK (v3+) exports OTLP to
``/api/public/otel/v1/traces`` with ``Authorization: Basic base64(public_key:secret_key)``.
A configured pair (setting ``langfuse_keys``) fixes the request's project; an unknown pair,
a wrong secret, or any pair while none is configured gets 401. Basic credentials are
only read on ``/api/public/`` paths or when the user part is a Langfuse public key
(``pk-lf-...``), so a reverse proxy's own Basic auth passing through is left alone.
Secrets are compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request

from tokentrail.errors import BadRequest, TokentrailError

log = logging.getLogger("tokentrail.server")

_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LANGFUSE_PATH_PREFIX = "/api/public/"
LANGFUSE_PUBLIC_KEY_PREFIX = "pk-lf-"
HOW_TO_CONFIGURE = ("set TOKENTRAIL_LANGFUSE_KEYS (or --langfuse-keys) to 'PUBLIC_KEY:SECRET_KEY=PROJECT' "
                    "pairs, comma separated")


class Unauthorized(TokentrailError):
    status = 401


class ConfigError(TokentrailError):
    status = 500


@dataclass(frozen=True)
class Principal:
    project: str  # "" = not fixed by the request: the data or the default decides
    scopes: frozenset[str]


ALL_SCOPES = frozenset({"ingest", "read", "read-content", "admin"})
INGEST_ONLY = frozenset({"ingest"})


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
    return Principal(project=known[1], scopes=INGEST_ONLY)


def authenticate(request: Request) -> Principal:
    principal = _basic_principal(request)
    if principal is not None:
        return principal  # the key pair decides the project (X-Tokentrail-Project is ignored)
    project = request.headers.get("x-tokentrail-project", "")
    if project and not _PROJECT.match(project):
        raise BadRequest("X-Tokentrail-Project must be 1-64 letters, digits, '_', '.' or '-'")
    return Principal(project=project, scopes=ALL_SCOPES)
