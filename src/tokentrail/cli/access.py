"""How a command reaches the data: through the running server, or by opening the store.

chDB lets one process own a data directory. While ``tokentrail serve`` runs, commands
go through its HTTP API; otherwise they open the store themselves. If the directory
is locked and no server answers, they say so and exit non-zero.
"""

from __future__ import annotations

import os
from pathlib import Path
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


def local_store_path(settings: Settings) -> Path | None:
    """The embedded store's directory (``chdb://PATH``), or None for a ClickHouse server."""
    url = settings.storage_url
    return Path(url[len("chdb://"):]).expanduser() if url.startswith("chdb://") else None


def prepare_dir(path: Path, what: str = "data directory") -> None:
    """Create ``path`` if needed and check a file can be written in it: one clear line otherwise (a file
    in the way, no permission, a read-only file system), before anything else is created or started."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".tokentrail-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        where = f" ({e.filename})" if e.filename and str(e.filename) != str(path) else ""
        raise click.ClickException(f"cannot use {what} {path}: {e.strerror or e}{where}") from e


def open_local(settings: Settings, create: bool = False) -> Store:
    """The store, opened by this process. A command that only reads or changes what is there
    (``create`` False) never creates one: a mistyped --data-dir says so instead of making an empty store."""
    path = local_store_path(settings)
    if path is not None:
        if create:
            prepare_dir(path, "store directory")
        elif not path.is_dir() or not any(path.iterdir()):
            existing = next((p for p in (path, *path.parents) if p.exists()), path)
            where = f"{existing} is not a directory" if not existing.is_dir() else f"no store at {path}"
            raise click.ClickException(
                f"{where}: nothing was recorded there (check --data-dir or TOKENTRAIL_DATA_DIR), and no server "
                f"answered at {settings.url} (pass --url if it listens elsewhere)")
    try:
        store = open_store(settings.storage_url)
        migrate(store, settings.retention)
        return store
    except DataDirLocked as e:
        raise click.ClickException(
            f"{e.message}\nNo server answered at {settings.url}; pass --url if it listens elsewhere.") from e
    except StorageError as e:
        raise click.ClickException(e.message) from e
