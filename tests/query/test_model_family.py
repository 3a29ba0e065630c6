"""Model families: the dated, undated, aliased and prefixed names of one model (gpt-4o-mini,
gpt-4o-mini-2024-07-18, openai/gpt-4o-mini) read as one family with its versions. The breakdown by
``model_family`` and the ``model_family`` filter answer, over raw spans (24 h), the hourly rollup (7 d) and
the daily rollup (30 d), exactly what the calls sent say; the family of each name is written here, by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.query.test_filtered_layouts import _close
from tests.support import ServerThread, running_server
from tokentrail.query import metrics
from tokentrail.query.filters import Filters

PROJECT = "families"
# each model name as a caller reports it -> the family it belongs to (what the names are, not what the server says)
FAMILY = {
    "gpt-4o-mini": "gpt-4o-mini",
    "gpt-4o-mini-2024-07-18": "gpt-4o-mini",
    "openai/gpt-4o-mini": "gpt-4o-mini",
    "gpt-4o-2024-08-06": "gpt-4o",
    "openai/gpt-4o": "gpt-4o",
    "claude-3-5-sonnet-20241022": "claude-3-5-sonnet",
    "claude-3-5-sonnet-latest": "claude-3-5-sonnet",
    "models/gemini-1.5-pro-002": "gemini-1.5-pro",
    "gemini-1.5-pro": "gemini-1.5-pro",
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0": "claude-3-7-sonnet",
    "mistral-large-2411": "mistral-large-2411",  # a model number, not a snapshot date: its own family
}
MODELS = list(FAMILY)
DAYS = 20
CALLS = 2200
USERS = ("ann", "bob", "cid")


def _calls(now: datetime) -> list[dict[str, Any]]:
    """CALLS calls, one every DAYS/CALLS, cycling through the models (the latest first)."""
    step = timedelta(days=DAYS) / CALLS
    out = []
    for i in range(CALLS):
        model = MODELS[i % len(MODELS)]
        out.append({"request_id": f"fam-{i}", "timestamp": (now - (i + 1) * step).isoformat(), "model": model,
                    "provider": "anthropic" if "claude" in model else "google" if "gemini" in model else "openai",
                    "input_tokens": 100 + i % 37, "output_tokens": 10 + i % 11, "duration_ms": 200 + (i * 37) % 900,
                    "user_id": USERS[i % len(USERS)], "route": "chat", "status": "error" if i % 29 == 0 else "ok"})
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with running_server(tmp_path_factory.mktemp("families")) as s:
        s.calls = _calls(datetime.now(UTC))  # type: ignore[attr-defined]
        for i in range(0, CALLS, 1000):
            r = s.client.post("/api/ingest/batch", json=s.calls[i:i + 1000],  # type: ignore[attr-defined]
                              headers={"x-tokentrail-project": PROJECT})
            assert r.status_code == 200 and r.json()["accepted"] == len(s.calls[i:i + 1000]), r.text  # type: ignore[attr-defined]
        s.flush()
        assert s.runtime.settle()
        yield s


def _since(days: int) -> datetime:
    """``days`` ago at 00:00 UTC, where every source (raw, hourly, daily) starts exactly; 0: 20 hours ago
    (raw spans), at the hour."""
    now = datetime.now(UTC)
    if not days:
        return (now - timedelta(hours=20)).replace(minute=0, second=0, microsecond=0)
    return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)


def _sent(server: ServerThread, since: datetime, **where: str) -> dict[str, dict[str, int]]:
    """Requests and errors per model name among the calls sent since ``since``."""
    out: dict[str, dict[str, int]] = {}
    for c in server.calls:  # type: ignore[attr-defined]
        if datetime.fromisoformat(c["timestamp"]) < since or any(c[k] != v for k, v in where.items()):
            continue
        n = out.setdefault(c["model"], {"requests": 0, "errors": 0})
        n["requests"] += 1
        n["errors"] += c["status"] == "error"
    return out


def _filters(server: ServerThread, since: datetime, **equals: str) -> Filters:
    rt = server.runtime
    return Filters(project=PROJECT, since=since, equals=equals, pending=rt.pending_minutes(PROJECT),
                   stale_days=rt.stale_days(PROJECT))


@pytest.mark.parametrize(("days", "source"), [(0, "raw"), (5, "rollup"), (DAYS + 2, "rollup")])
def test_breakdown_by_family_lists_each_family_with_its_versions(server: ServerThread, days: int, source: str) -> None:
    since = _since(days)
    r = server.client.get("/api/metrics/breakdown", params={"project": PROJECT, "by": "model_family", "limit": 50,
                                                              "since": since.isoformat()})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["by"] == "model_family" and doc["source"] == source
    sent = _sent(server, since)
    want: dict[str, dict[str, int]] = {}
    for model, n in sent.items():
        want.setdefault(FAMILY[model], {})[model] = n["requests"]
    got = {row["key"]: {v["key"]: v["requests"] for v in row["versions"]} for row in doc["rows"]}
    assert got == want
    assert want["gpt-4o-mini"].keys() == {"gpt-4o-mini", "gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini"}
    for row in doc["rows"]:
        versions = row["versions"]
        assert row["requests"] == sum(v["requests"] for v in versions)
        assert row["errors"] == sum(sent[v["key"]]["errors"] for v in versions)
        assert row["cost_usd"] == pytest.approx(sum(v["cost_usd"] for v in versions), abs=1e-5)
        assert row["latency_ms"]["p50"] is not None and set(versions[0]) >= {"key", "requests", "cost_usd",
                                                                            "latency_ms", "cost_share"}
    costs = [row["cost_usd"] for row in doc["rows"]]
    assert costs == sorted(costs, reverse=True)
    # the per-model breakdown sees the same versions with the same numbers
    by_model = server.client.get("/api/metrics/breakdown", params={"project": PROJECT, "by": "model", "limit": 50,
                                                                     "since": since.isoformat()}).json()["rows"]
    versions = {v["key"]: v for row in doc["rows"] for v in row["versions"]}
    assert {m["key"]: m["requests"] for m in by_model} == {k: v["requests"] for k, v in versions.items()}
    for m in by_model:
        assert m["cost_usd"] == pytest.approx(versions[m["key"]]["cost_usd"], abs=1e-6)
    # a limit keeps the top families, each with all its versions
    top = server.client.get("/api/metrics/breakdown", params={"project": PROJECT, "by": "model_family", "limit": 2,
                                                                "since": since.isoformat()}).json()["rows"]
    assert top == doc["rows"][:2]


@pytest.mark.parametrize("days", [0, 5, DAYS + 2])
def test_rollups_answer_the_family_breakdown_as_raw_spans(server: ServerThread, days: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Every metric, quantiles included, for the families and their versions: the rollups equal the spans."""
    f = _filters(server, _since(days))
    got = metrics.breakdown(server.runtime.store, f, "model_family", 50)
    monkeypatch.setattr(Filters, "use_rollup", lambda self: False)
    want = metrics.breakdown(server.runtime.store, f, "model_family", 50)
    assert want["source"] == "raw"
    got.pop("source"), want.pop("source")
    _close(got, want)


@pytest.mark.parametrize("days", [0, 5, DAYS + 2])
@pytest.mark.parametrize(("value", "family"), [
    ("gpt-4o-mini", "gpt-4o-mini"), ("claude-3-5-sonnet", "claude-3-5-sonnet"), ("gemini-1.5-pro", "gemini-1.5-pro"),
    ("openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini"),  # a model name stands for its family
])
def test_model_family_filter_keeps_every_version_of_the_family(server: ServerThread, days: int, value: str,
                                                               family: str) -> None:
    since = _since(days)
    params = {"project": PROJECT, "since": since.isoformat(), "model_family": value}
    summary = server.client.get("/api/metrics/summary", params=params).json()
    sent = _sent(server, since)
    assert summary["requests"] == sum(n["requests"] for m, n in sent.items() if FAMILY[m] == family) > 0
    by_model = server.client.get("/api/metrics/breakdown", params={**params, "by": "model"}).json()["rows"]
    assert {r["key"] for r in by_model} == {m for m in sent if FAMILY[m] == family}
    traces = server.client.get("/api/traces", params={**params, "limit": 100}).json()["traces"]
    assert traces and all(FAMILY[m] == family for t in traces for m in t["models"])


@pytest.mark.parametrize("days", [0, 5, DAYS + 2])
def test_model_family_with_a_user_filter_reads_spans_by_user_exactly(server: ServerThread, days: int) -> None:
    since = _since(days)
    f = _filters(server, since, model_family="gpt-4o-mini", user="bob")
    assert f.by_person()
    got = metrics.summary(server.runtime.store, f)
    sent = _sent(server, since, user_id="bob")
    assert got["requests"] == sum(n["requests"] for m, n in sent.items() if FAMILY[m] == "gpt-4o-mini") > 0
    rows = metrics.breakdown(server.runtime.store, _filters(server, since, user="bob"), "model_family", 50)["rows"]
    assert {r["key"]: r["requests"] for r in rows} == {
        fam: sum(n["requests"] for m, n in sent.items() if FAMILY[m] == fam) for fam in {FAMILY[m] for m in sent}}


def test_timeseries_groups_by_family(server: ServerThread) -> None:
    doc = server.client.get("/api/metrics/timeseries", params={"project": PROJECT, "range": "24h",
                                                                 "group_by": "model_family", "top": 20}).json()
    since = datetime.now(UTC) - timedelta(hours=24)
    assert {s["group"] for s in doc["series"]} == {FAMILY[m] for m in _sent(server, since)}


def test_filter_drop_downs_answer_under_a_family_filter(server: ServerThread) -> None:
    for days in (0, 5):
        r = server.client.get("/api/filters/values", params={"project": PROJECT, "since": _since(days).isoformat(),
                                                             "model_family": "gpt-4o-mini"})
        assert r.status_code == 200, r.text
        assert set(r.json()["model"]) >= {"gpt-4o-mini", "gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini"}
