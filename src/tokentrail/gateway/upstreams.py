"""Which upstreams the gateway forwards to: built-in defaults plus the ``gateway_config`` file.

The file (TOML, or JSON when it ends in ``.json``) names upstreams under ``upstreams``::

    [upstreams.openai]                     # built in; set only what you change
    base_url = "https://api.openai.com/v1"

    [upstreams.vllm]                       # any OpenAI-compatible server
    base_url = "http://10.0.0.5:8000/v1"
    provider = "vllm"                      # gen_ai.provider.name of its spans (default: the name)

    [upstreams.openrouter]
    base_url = "https://openrouter.ai/api/v1"
    headers = { "HTTP-Referer" = "https://example.com" }
    [upstreams.openrouter.keys]            # optional provider keys held per project
    team-a = "env:OPENROUTER_KEY_TEAM_A"   # "env:NAME" reads the key from the environment

``format`` is the wire format, ``openai`` (default) or ``anthropic``. A client reaches an
upstream at ``/gateway/<name>``; the rest of its path is appended to ``base_url``, and a
``/v1`` is not doubled, so ``/gateway/vllm/v1`` and ``/gateway/vllm`` both work as base URLs
for the official OpenAI client.

A project's provider key is used only for requests authenticated for that project (a tokentrail
key of the project, or a server-wide one; anyone in open mode): see ``docs/auth.md``.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokentrail.errors import TokentrailError

FORMATS = ("openai", "anthropic")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

BUILT_IN: dict[str, dict[str, Any]] = {
    "openai": {"base_url": "https://api.openai.com/v1", "format": "openai"},
    "anthropic": {"base_url": "https://api.anthropic.com", "format": "anthropic"},
}


class GatewayConfigError(TokentrailError):
    """The gateway configuration file is missing or invalid (fix the file and restart)."""


@dataclass(frozen=True)
class Upstream:
    name: str
    base_url: str
    format: str = "openai"
    provider: str = ""
    keys: dict[str, str] = field(default_factory=dict, repr=False)  # project -> provider key; never logged
    headers: tuple[tuple[str, str], ...] = ()

    def url(self, path: str, query: bytes = b"") -> str:
        """The upstream URL for the client's ``path`` (what follows ``/gateway/<name>``)."""
        base = self.base_url
        if base.endswith("/v1") and (path == "/v1" or path.startswith("/v1/")):
            path = path[3:]
        url = base + path
        return url + "?" + query.decode("latin-1") if query else url

    def describe(self) -> dict[str, Any]:
        """What the gateway index shows: never the keys, nor which projects hold one."""
        return {"name": self.name, "base_url": self.base_url, "format": self.format, "provider": self.provider}


def _key(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise GatewayConfigError(f"{where}: a key must be a non-empty string")
    if value.startswith("env:"):
        resolved = os.environ.get(value[4:], "")
        if not resolved:
            raise GatewayConfigError(f"{where}: environment variable {value[4:]} is not set")
        return resolved
    return value


def _upstream(name: str, spec: Any) -> Upstream:
    if not _NAME.match(name):
        raise GatewayConfigError(
            f"upstream name {name!r}: use 1-64 lower-case letters, digits, '_', '.' or '-'")
    if not isinstance(spec, dict):
        raise GatewayConfigError(f"upstreams.{name} must be a table")
    spec = {**BUILT_IN.get(name, {}), **spec}
    unknown = set(spec) - {"base_url", "format", "provider", "keys", "headers"}
    if unknown:
        raise GatewayConfigError(f"upstreams.{name}: unknown setting(s) {', '.join(sorted(unknown))}")
    base_url = str(spec.get("base_url", "")).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise GatewayConfigError(f"upstreams.{name}.base_url must be an http(s) URL")
    fmt = spec.get("format", "openai")
    if fmt not in FORMATS:
        raise GatewayConfigError(f"upstreams.{name}.format must be one of {', '.join(FORMATS)}")
    keys = spec.get("keys", {})
    headers = spec.get("headers", {})
    if not isinstance(keys, dict) or not isinstance(headers, dict):
        raise GatewayConfigError(f"upstreams.{name}: keys and headers must be tables")
    return Upstream(name=name, base_url=base_url, format=fmt,
                    provider=str(spec.get("provider") or name).lower(),
                    keys={str(p): _key(k, f"upstreams.{name}.keys.{p}") for p, k in keys.items()},
                    headers=tuple((str(k), str(v)) for k, v in headers.items()))


def read_config(path: str) -> dict[str, Any]:
    p = Path(path).expanduser()
    try:
        text = p.read_text()
    except OSError as e:
        raise GatewayConfigError(f"cannot read the gateway config {p}: {e.strerror}") from e
    try:
        doc = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise GatewayConfigError(f"the gateway config {p} is not valid {p.suffix[1:] or 'TOML'}: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("upstreams", {}), dict):
        raise GatewayConfigError(f"the gateway config {p} must have an 'upstreams' table")
    return doc


def load_upstreams(path: str = "") -> dict[str, Upstream]:
    """The built-in upstreams, overridden and extended by the file at ``path`` (if any)."""
    specs: dict[str, Any] = {name: {} for name in BUILT_IN}
    if path:
        specs.update(read_config(path).get("upstreams", {}))
    return {name: _upstream(name, spec) for name, spec in specs.items()}
