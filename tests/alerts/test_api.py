"""Alerts through a running server: the evaluator fires on real ingested data and notifies a real
webhook (signed); the API shows firing alerts, history, rules, silences, previews and replays; the
explainer answers for any chart; a broken alerts file stops the start with the reason."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.alerts.receivers import Endpoint, endpoint
from tests.support import ServerThread, running_server, wait_for
from tokentrail.alerts.notify import verify
from tokentrail.config import Settings
from tokentrail.server.auth import ConfigError
from tokentrail.server.runtime import Runtime

SECRET = "hook-secret"


@pytest.fixture(scope="module")
def hook() -> Iterator[Endpoint]:
    with endpoint() as ep:
        yield ep


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, hook: Endpoint) -> Iterator[ServerThread]:
    d = tmp_path_factory.mktemp("tt-alerts-api")
    cfg = d / "alerts.toml"
    cfg.write_text(f"""
[receivers.hook]
type = "webhook"
url = "{hook.url}"
secret = "{SECRET}"

[[rules]]
name = "unpriced"
kind = "unpriced_model"
project = "shop"
window = "1h"
severity = "ticket"
receivers = ["hook"]
""")
    with running_server(d / "data", alerts_file=str(cfg), alerts_interval=1.0) as s:
        yield s


def _send(server: ServerThread, model: str, n: int = 3, project: str = "shop") -> None:
    items = [{"model": model, "input_tokens": 100, "output_tokens": 20, "route": "chat"} for _ in range(n)]
    r = server.client.post("/api/ingest/batch", json=items, headers={"x-tokentrail-project": project})
    assert r.status_code < 300, r.text
    server.flush()


def test_an_unpriced_model_fires_notifies_and_shows(server: ServerThread, hook: Endpoint) -> None:
    _send(server, "gpt-4o-mini")
    _send(server, "house-model-x")  # no price anywhere
    got = hook.wait_for(1, timeout=30)
    assert got, "the webhook got nothing"
    body = got[0].json
    assert body["rule"] == "unpriced" and body["status"] == "firing" and body["project"] == "shop"
    assert body["labels"] == {"model": "house-model-x"} and body["value"] == 3
    assert verify(SECRET, got[0].headers["x-tokentrail-timestamp"], got[0].body, got[0].headers["x-tokentrail-signature"])
    now = server.client.get("/api/alerts", params={"project": "shop"}).json()
    firing = [a for a in now["alerts"] if a["state"] == "firing"]
    assert [a["labels"] for a in firing] == [{"model": "house-model-x"}]
    assert now["evaluator"]["receivers"][0]["name"] == "hook"
    hist = server.client.get("/api/alerts/history", params={"project": "shop", "rule": "unpriced"}).json()["events"]
    assert {"pending", "firing"} <= {e["state"] for e in hist}
    deliveries = wait_for(lambda: server.client.get("/api/alerts/deliveries",
                                                    params={"project": "shop"}).json()["deliveries"])
    assert deliveries[0]["receiver"] == "hook" and deliveries[0]["ok"]


def test_rules_through_the_api_with_preview_and_replay(server: ServerThread) -> None:
    c = server.client
    spec = {"kind": "anomaly", "metric": "requests", "project": "shop", "window": "30m"}
    r = c.put("/api/alerts/rules/volume", json=spec)
    assert r.status_code == 200, r.text
    names = {x["name"]: x["source"] for x in c.get("/api/alerts/rules", params={"project": "shop"}).json()["rules"]}
    assert names == {"unpriced": "file", "volume": "api"}
    assert c.put("/api/alerts/rules/unpriced", json=spec).status_code == 400  # the file's rule: changed there
    bad = c.put("/api/alerts/rules/x", json={"kind": "anomaly", "metric": "bogus", "project": "shop"})
    assert bad.status_code == 400 and "metric" in bad.json()["error"]
    preview = c.post("/api/alerts/preview", json={"rule": {"kind": "unpriced_model", "project": "shop"},
                                                   "since": "2h", "step": "30m"}).json()
    assert any(f["active"] and f["labels"] == {"model": "house-model-x"} for f in preview["now"])
    assert preview["replay"]["evaluations"] == 4
    test = c.post("/api/alerts/test", json={"name": "unpriced", "since": "1h", "step": "10m"}).json()
    assert test["fired"] == 1 and test["episodes"][0]["labels"] == {"model": "house-model-x"}
    assert c.delete("/api/alerts/rules/volume").status_code == 200
    assert "volume" not in {x["name"] for x in c.get("/api/alerts/rules", params={"project": "shop"}).json()["rules"]}
    audit = c.get("/api/admin/audit", params={"action": "alert_rule.change"}).json()
    assert any(row["target"] == "volume" for row in audit.get("rows", audit.get("events", [])))


def test_silences(server: ServerThread) -> None:
    c = server.client
    r = c.post("/api/alerts/silences", json={"rule": "unpriced", "duration": "1h", "comment": "known", "project": "shop"})
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    now = c.get("/api/alerts", params={"project": "shop"}).json()["alerts"]
    assert all(a["silenced"] for a in now if a["rule"] == "unpriced")
    assert c.post("/api/alerts/silences", json={"duration": "200d", "project": "shop"}).status_code == 400
    assert c.delete(f"/api/alerts/silences/{sid}", params={"project": "shop"}).status_code == 200
    assert c.get("/api/alerts/silences", params={"project": "shop"}).json()["silences"] == []


def test_a_value_that_is_not_unicode_is_a_400(server: ServerThread) -> None:
    """JSON may carry a lone surrogate (\\ud800); the engine cannot take it: the request is refused, clearly."""
    body = json.dumps({"matchers": {"rule": "\ud800x"}, "minutes": 10}).encode()
    r = server.client.post("/api/alerts/silences", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid Unicode" in r.json()["error"]
    assert server.client.get("/api/alerts/silences").status_code == 200


def test_explain_any_chart_and_prometheus_rules(server: ServerThread) -> None:
    c = server.client
    now = datetime.now(UTC)
    r = c.get("/api/explain", params={"project": "shop", "metric": "requests",
                                      "since": (now - timedelta(minutes=30)).isoformat(), "until": now.isoformat()})
    assert r.status_code == 200, r.text
    assert r.json()["top"], r.json()
    top = r.json()["top"][0]
    assert top["dimension"] in ("model", "route") and r.json()["window"]["value"] == 6, r.json()["top"][:4]
    assert c.get("/api/explain", params={"project": "shop", "metric": "nope", "since": now.isoformat(),
                                         "until": now.isoformat()}).status_code == 400
    rules = c.get("/api/alerts/prometheus-rules", params={"project": "shop"})
    assert rules.status_code == 200 and "alert: unpriced" in rules.text


def test_a_broken_alerts_file_stops_the_start(tmp_path: Path) -> None:
    cfg = tmp_path / "alerts.toml"
    cfg.write_text('[[rules]]\nname = "x"\nkind = "anomaly"\nmetric = "bogus"\n')
    with pytest.raises(ConfigError, match="rule 1 \\(x\\): metric"):
        Runtime(Settings.load(data_dir=tmp_path / "d", alerts_file=str(cfg)))
    time.sleep(0)


def test_cli_through_the_server(server: ServerThread) -> None:
    from click.testing import CliRunner

    from tokentrail.cli.main import main

    run = CliRunner().invoke
    r = run(main, ["alerts", "test", "unpriced", "--since", "2h", "--step", "30m", "--url", server.url])
    assert r.exit_code == 0, r.output
    assert "would have fired 1 time(s)" in r.output and "house-model-x" in r.output
    r = run(main, ["alerts", "list", "--project", "shop", "--url", server.url])
    assert r.exit_code == 0 and "unpriced" in r.output, r.output
    r = run(main, ["alerts", "test", "no-such-rule", "--url", server.url])
    assert r.exit_code != 0 and "no alert rule" in r.output
    r = run(main, ["alerts", "prometheus-rules", "--project", "shop", "--url", server.url])
    assert r.exit_code == 0 and "alert: unpriced" in r.output
    r = run(main, ["alerts", "silence", "--project", "shop", "--rule", "unpriced", "--for", "10m", "--url", server.url])
    assert r.exit_code == 0 and r.output.startswith("silence "), r.output
    spec = '{"kind": "rate_drop", "metric": "cache_hit_rate", "project": "shop", "drop_points": 20}'
    r = run(main, ["alerts", "set", "cache-drop", spec, "--url", server.url])
    assert r.exit_code == 0 and json.loads(r.output)["drop_points"] == 20, r.output
    r = run(main, ["alerts", "rules", "--project", "shop", "--url", server.url])
    assert "cache-drop" in r.output
    r = run(main, ["alerts", "set", "bad", '{"kind": "rate_drop", "metric": "nope"}', "--url", server.url])
    assert r.exit_code != 0 and "metric" in r.output
    r = run(main, ["alerts", "delete", "cache-drop", "--url", server.url])
    assert r.exit_code == 0 and "deleted cache-drop" in r.output
