"""The one place where requests are authenticated.

This wave has no API keys: every request is allowed, and its project comes from the
``X-Tokentrail-Project`` header (or the data itself, or the default project). API keys
with scopes (ingest / read / read-content / admin) plug in here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request

from tokentrail.errors import BadRequest

_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Principal:
    project: str  # "" = not fixed by the request: the data or the default decides
    scopes: frozenset[str]


ALL_SCOPES = frozenset({"ingest", "read", "read-content", "admin"})


def authenticate(request: Request) -> Principal:
    project = request.headers.get("x-tokentrail-project", "")
    if project and not _PROJECT.match(project):
        raise BadRequest("X-Tokentrail-Project must be 1-64 letters, digits, '_', '.' or '-'")
    return Principal(project=project, scopes=ALL_SCOPES)
