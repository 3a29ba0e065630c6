"""The Grafana files under deploy/grafana/, loaded for the tests."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
OVERVIEW = GRAFANA / "dashboards" / "tokentrail-overview.json"
PLUGIN = "grafana-clickhouse-datasource"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_dashboards", GRAFANA / "build_dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and the panels inside collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def data_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in all_panels(dashboard) if p["type"] != "row"]


def variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return dashboard["templating"]["list"]


def variable_sql(var: dict[str, Any]) -> str:
    query = var["query"]
    return query["rawSql"] if isinstance(query, dict) else query


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, SQL) of every panel target and every query variable."""
    for panel in data_panels(dashboard):
        for target in panel["targets"]:
            yield f"panel {panel['title']!r}", target["rawSql"]
    for var in variables(dashboard):
        if var["type"] == "query":
            yield f"variable ${var['name']}", variable_sql(var)


def panel_cases() -> list[tuple[str, dict[str, Any]]]:
    """(test id, panel) of every data panel of every dashboard, for parametrize."""
    out = []
    for path in DASHBOARD_FILES:
        for panel in data_panels(load(path)):
            out.append((f"{path.stem}:{re.sub(r'[^A-Za-z0-9]+', '-', panel['title']).strip('-')}", panel))
    return out
