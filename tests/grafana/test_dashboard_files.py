"""The Grafana dashboards and provisioning files are well-formed and consistent: what the
build script writes, 15-20 panels on the overview, a ClickHouse data source everywhere,
FINAL on every read of a deduplicated table, and provisioning that matches the README."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.grafana.files import (
    DASHBOARD_FILES,
    GRAFANA,
    OVERVIEW,
    PLUGIN,
    all_panels,
    build_script,
    data_panels,
    load,
    queries,
    variables,
)

REPLACING_TABLES = ("spans", "contents", "scores", "rollup_minute", "rollup_hour", "rollup_day_user")
DASHBOARDS = [pytest.param(path, id=path.stem) for path in DASHBOARD_FILES]


def test_dashboards_are_what_the_build_script_writes() -> None:
    script = build_script()
    built = script.build()
    assert sorted(built) == [p.name for p in DASHBOARD_FILES]
    for name, doc in built.items():
        assert (GRAFANA / "dashboards" / name).read_text() == script.render(doc), \
            "run `python deploy/grafana/build_dashboards.py`"


def test_overview_has_15_to_20_panels_over_health_cost_and_usage() -> None:
    dash = load(OVERVIEW)
    panels = list(all_panels(dash))
    assert 15 <= len(data_panels(dash)) and len(panels) <= 20
    assert [p["title"] for p in panels if p["type"] == "row"] == ["Health", "Cost", "Usage"]


@pytest.mark.parametrize("path", DASHBOARDS)
def test_panel_ids_and_titles_are_unique(path: Path) -> None:
    panels = list(all_panels(load(path)))
    assert len({p["id"] for p in panels}) == len(panels)
    assert len({p["title"] for p in panels}) == len(panels)


@pytest.mark.parametrize("path", DASHBOARDS)
def test_every_panel_and_variable_queries_the_clickhouse_data_source(path: Path) -> None:
    dash = load(path)
    ds_var = next(v for v in variables(dash) if v["type"] == "datasource")
    assert ds_var["query"] == PLUGIN
    expected = {"type": PLUGIN, "uid": "${" + ds_var["name"] + "}"}
    for panel in data_panels(dash):
        assert panel["datasource"] == expected, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == expected and target["editorType"] == "sql"
            assert target["format"] == (0 if panel["type"] == "timeseries" else 1), panel["title"]
    for var in variables(dash):
        if var["type"] == "query":
            assert var["datasource"] == expected, var["name"]


@pytest.mark.parametrize("path", DASHBOARDS)
def test_no_query_reads_a_deduplicated_table_without_final(path: Path) -> None:
    """spans and the rollups are ReplacingMergeTrees: without FINAL a re-sent span counts twice."""
    for where, sql in queries(load(path)):
        for m in re.finditer(r"\bFROM\s+([\w${}.]+)\b(?!\s*\()(\s+FINAL\b)?", sql, re.IGNORECASE):
            table = m.group(1)
            assert table.startswith("${database}."), f"{where}: {table} must name the database variable"
            if table.split(".", 1)[1] in REPLACING_TABLES:
                assert m.group(2), f"{where} reads {table} without FINAL"
        for table in REPLACING_TABLES:
            for m in re.finditer(rf"\.{table}\b(?!\s+FINAL\b)", sql):
                pytest.fail(f"{where} reads {table} without FINAL at {m.start()}")


@pytest.mark.parametrize("path", DASHBOARDS)
def test_queries_use_only_defined_variables(path: Path) -> None:
    dash = load(path)
    names = {v["name"] for v in variables(dash)}
    for where, sql in queries(dash):
        used = set(re.findall(r"\$\{(\w+)(?::\w+)?\}|\$(?!__)(\w+)", sql))
        for braced, bare in used:
            assert (braced or bare) in names, f"{where} uses undefined ${braced or bare}"
    links = json.dumps([p["fieldConfig"] for p in data_panels(dash)])
    for name in re.findall(r"\$\{(?!__)(\w+)", links):
        assert name in names, f"a field link or display name uses undefined ${name}"


@pytest.mark.parametrize("path", DASHBOARDS)
def test_panels_fit_the_grid_without_overlapping(path: Path) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in all_panels(load(path)):
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in taken, f"{panel['title']!r} overlaps {taken[(x, y)]!r}"
                taken[(x, y)] = panel["title"]


def _provisioning(kind: str) -> dict[str, Any]:
    return yaml.safe_load((GRAFANA / "provisioning" / kind / "tokentrail.yaml").read_text())


def test_provisioned_data_source_is_the_dashboards_default_and_reads_its_settings_from_the_environment() -> None:
    (ds,) = _provisioning("datasources")["datasources"]
    assert ds["type"] == PLUGIN
    for path in DASHBOARD_FILES:
        ds_var = next(v for v in variables(load(path)) if v["type"] == "datasource")
        assert ds_var["current"]["value"] == ds["uid"]
    settings = {**ds["jsonData"], **ds["secureJsonData"]}
    assert set(settings) == {"host", "port", "protocol", "secure", "username", "defaultDatabase", "password"}
    readme = (GRAFANA / "README.md").read_text()
    for key, value in settings.items():
        env = re.fullmatch(r"\$\{(\w+)\}", str(value))
        assert env, f"{key} must come from an environment variable"
        assert env.group(1) in readme, f"{env.group(1)} is not documented in deploy/grafana/README.md"


def test_provisioned_dashboards_are_read_from_the_folder_the_readme_mounts() -> None:
    (provider,) = _provisioning("dashboards")["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    readme = (GRAFANA / "README.md").read_text()
    assert f"deploy/grafana/dashboards:{path}" in readme
