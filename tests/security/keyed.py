"""A real server that has API keys, and the keys the security tests use.

The first key is made through the admin API while the server is still open (how a user bootstraps
one on loopback); every other key is made with that admin key. Projects: ``alpha`` and ``beta``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support import ServerThread, free_port, running_server

ALPHA, BETA = "alpha", "beta"
METRICS_TOKEN = "scrape-token-for-tests"
# name -> (project, scopes)
KEYS: dict[str, tuple[str, list[str]]] = {
    "alpha_ingest": (ALPHA, ["ingest"]), "alpha_read": (ALPHA, ["read"]),
    "alpha_content": (ALPHA, ["read-content"]), "alpha_admin": (ALPHA, ["admin"]),
    "beta_ingest": (BETA, ["ingest"]), "beta_read": (BETA, ["read"]), "beta_content": (BETA, ["read-content"]),
    "beta_admin": (BETA, ["admin"]), "beta_metrics_less": (BETA, ["ingest", "read-content"]),
    "all_metrics": ("*", ["metrics"]),
    # every scope but one (and but admin, which implies all): a refusal can only be about that scope
    "all_but_ingest": ("*", ["read-content", "metrics"]), "all_but_read": ("*", ["ingest", "metrics"]),
    "all_but_read-content": ("*", ["ingest", "read", "metrics"]),
    "all_but_admin": ("*", ["ingest", "read-content", "metrics"]),
    "all_but_metrics": ("*", ["ingest", "read-content"]),
}


class Keyed:
    def __init__(self, server: ServerThread, admin: str, keys: dict[str, str]) -> None:
        self.server = server
        self.url = server.url
        self.admin = admin
        self.keys = keys

    def client(self, key: str | None = None, **headers: str) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.keys.get(key, key)}"} if key else {}
        return httpx.Client(base_url=self.url, timeout=60, headers={**auth, **headers})

    def as_admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.client(self.admin) as c:
            return c.request(method, path, **kwargs)

    def flush(self) -> None:
        assert self.as_admin("POST", "/api/admin/flush").json()["flushed"]

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.flush()
        return self.server.runtime.store.query(sql, params)


def make_key(url: str, admin: str | None, project: str, scopes: list[str], name: str = "") -> str:
    headers = {"Authorization": f"Bearer {admin}"} if admin else {}
    r = httpx.post(f"{url}/api/admin/keys", json={"project": project, "scopes": scopes, "name": name},
                   headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["key"]


def dead_gateway_config(path: Path) -> str:
    """Gateway upstreams that go nowhere (no test reaches the internet)."""
    path.write_text(f'[upstreams.openai]\nbase_url = "http://127.0.0.1:{free_port()}/v1"\n'
                    f'[upstreams.anthropic]\nbase_url = "http://127.0.0.1:{free_port()}"\n')
    return str(path)


@contextmanager
def keyed_server(data_dir: Path, **settings: Any) -> Iterator[Keyed]:
    settings.setdefault("gateway_config", dead_gateway_config(data_dir.parent / f"{data_dir.name}-gateway.toml"))
    with running_server(data_dir, metrics_token=METRICS_TOKEN, **settings) as server:
        admin = make_key(server.url, None, "*", ["admin"], "bootstrap")  # open until this key exists
        keys = {name: make_key(server.url, admin, project, scopes, name) for name, (project, scopes) in KEYS.items()}
        yield Keyed(server, admin, keys)
