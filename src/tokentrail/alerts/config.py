"""The alerts file (setting ``alerts_file``, TOML or JSON): receivers and rules.

    [receivers.oncall]
    type = "pagerduty"
    routing_key = "..."

    [receivers.team]
    type = "slack"
    url = "https://hooks.slack.com/services/..."

    [[rules]]
    name = "daily-budget"
    kind = "budget"
    project = "shop"
    percent_of_expected = 120
    receivers = ["team"]

Rules made through the API, CLI or UI live in the store; a file rule of the same name wins.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tokentrail.alerts.notify import Receiver, receiver_from_config
from tokentrail.alerts.rules import parse_rule


@dataclass
class AlertsConfig:
    rules: list[Any] = field(default_factory=list)
    receivers: list[Receiver] = field(default_factory=list)
    mtime: float = 0.0


def load(path: str) -> AlertsConfig:
    """Raises ValueError naming the file and what is wrong in it."""
    if not path:
        return AlertsConfig()
    p = Path(path).expanduser()
    try:
        text = p.read_text()
        data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as e:
        raise ValueError(f"alerts file {p}: {e}") from e
    receivers = [receiver_from_config(name, spec) for name, spec in (data.get("receivers") or {}).items()]
    rules = []
    for i, spec in enumerate(data.get("rules") or []):
        try:
            rules.append(parse_rule(spec))
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"][1:]) or "rule"
            raise ValueError(f"alerts file {p}: rule {i + 1} ({spec.get('name', '?')}): {where}: {first['msg']}") from e
    names = [r.name for r in rules]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"alerts file {p}: rule names must be unique ({', '.join(sorted(dup))})")
    known = {r.name for r in receivers}
    for r in rules:
        missing = [x for x in r.receivers if x not in known]
        if missing:
            raise ValueError(f"alerts file {p}: rule {r.name} names unknown receiver(s) {', '.join(missing)}")
    return AlertsConfig(rules, receivers, p.stat().st_mtime)
