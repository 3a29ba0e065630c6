"""How a command reaches the data: through the running server, or by opening the store.

chDB lets one process own a data directory. While ``tokentrail serve`` runs, commands
go through its HTTP API; otherwise they open the store themselves. If the directory
is locked and no server answers, they say so and exit non-zero.
"""

from __future__ import annotations

from typing import Any

import click
import httpx

from tokentrail.auth.client import auth_headers
from tokentrail.config import Settings
from tokentrail.errors import DataDirLocked, StorageError
from tokentrail.storage.backend import Store, open_store
from tokentrail.storage.migrations import migrate


def server_running(url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(url.rstrip("/") + "/healthz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def call_server(method: str, url: str, path: str, **kwargs: Any) -> Any:
    kwargs["headers"] = {**auth_headers(), **kwargs.get("headers", {})}
    try:
        r = httpx.request(method, url.rstrip("/") + path, timeout=600, **kwargs)
    except httpx.HTTPError as e:
        raise click.ClickException(f"cannot reach the server at {url}: {e}") from e
    if r.status_code >= 400:
        try:
            detail = r.json().get("error") or r.json().get("detail") or r.text
        except ValueError:
            detail = r.text
        raise click.ClickException(f"server answered {r.status_code}: {detail}")
    return r.json()


def open_local(settings: Settings) -> Store:
    try:
        store = open_store(settings.storage_url)
        migrate(store, settings.retention)
        return store
    except DataDirLocked as e:
        raise click.ClickException(
            f"{e.message}\nNo server answered at {settings.url}; pass --url if it listens elsewhere.") from e
    except StorageError as e:
        raise click.ClickException(e.message) from e
