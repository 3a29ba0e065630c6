"""Projects the caller may read (with their calls over the range), where a trace or session lives when
looked up in the wrong project, and the traces list filtered by score."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support import ServerThread, running_server
from tokentrail.demo.send import send_backfill
from tokentrail.query.filters import array_param

A, B = "shop", "support-bot"
SCORE = "u1-review"


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with running_server(tmp_path_factory.mktemp("projects")) as server:
        send_backfill(server.url, traces=300, days=1, project=A)
        send_backfill(server.url, traces=120, days=1, project=B, seed=11)
        server.flush()
        yield server


def window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {"since": (now - timedelta(days=2)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}


def raw_calls(server: ServerThread, project: str, w: dict[str, str]) -> int:
    return server.query("""
        SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {p:String} AND kind IN ('llm', 'embedding')
          AND start_time >= {a:DateTime64(6)} AND start_time < {b:DateTime64(6)}""",
                        {"p": project, "a": w["since"][:26].replace("T", " "),
                         "b": w["until"][:26].replace("T", " ")})[0]["n"]


def trace_ids(server: ServerThread, project: str, **params: object) -> list[str]:
    r = server.client.get("/api/traces", params={"project": project, "limit": 500, **window(), **params})
    assert r.status_code == 200, r.text
    return [t["trace_id"] for t in r.json()["traces"]]


def test_projects_lists_each_project_with_its_calls_in_the_range(two: ServerThread) -> None:
    w = window()
    doc = two.client.get("/api/projects", params=w).json()
    rows = {r["project"]: r for r in doc["projects"]}
    assert {A, B, "default"} <= set(rows)  # the default project is always offered
    for p in (A, B):
        assert rows[p]["requests"] == raw_calls(two, p, w) > 0
    assert rows["default"]["requests"] == 0
    assert doc["current"] == "default"


def test_a_new_projects_first_calls_list_it_before_the_rollups_name_it(two: ServerThread) -> None:
    """A project is listed once its first calls are stored, not a minute later when the rollups are refreshed
    (they list the projects that hold data)."""
    new = "brand-new"
    now = datetime.now(UTC)
    calls = [{"model": "gpt-4o-mini", "input_tokens": 10, "output_tokens": 2,
              "start_time": (now - timedelta(seconds=i)).isoformat()} for i in range(3)]
    assert two.client.post("/api/ingest/batch", json=calls, headers={"x-tokentrail-project": new}).status_code == 200
    rt = two.runtime
    assert rt.inserter.flush(30)  # stored; the rollups are refreshed later (admin/flush would do both)
    assert new not in {r["project"] for r in rt.store.query("SELECT DISTINCT project FROM tokentrail.rollup_minute")}
    assert new in rt.rollup_queue.projects()  # inserted, owed to the rollups
    rows = {r["project"]: r for r in two.client.get("/api/projects", params=window()).json()["projects"]}
    assert rows[new]["requests"] == 3


def test_a_trace_or_session_in_another_project_says_where_it_is(two: ServerThread) -> None:
    trace = trace_ids(two, B)[0]
    r = two.client.get(f"/api/traces/{trace}", params={"project": A})
    assert r.status_code == 404
    assert r.json()["error"] == f"no trace {trace} in project {A}; it is in project {B} (open it with ?project={B})"
    assert two.client.get("/api/projects/holding", params={"trace_id": trace}).json() == {"projects": [B]}
    session = two.client.get("/api/sessions", params={"project": B, **window()}).json()["sessions"][0]["session_id"]
    r = two.client.get(f"/api/sessions/{session}")
    assert r.status_code == 404 and f"it is in project {B}" in r.json()["error"]
    missing = "f" * 32
    r = two.client.get(f"/api/traces/{missing}", params={"project": A})
    assert r.json()["error"] == f"no trace {missing} in project {A}"
    assert two.client.get("/api/projects/holding", params={"trace_id": missing}).json() == {"projects": []}
    assert two.client.get("/api/projects/holding").status_code == 400
    assert two.client.get("/api/projects/holding", params={"trace_id": "zz"}).status_code == 400


def test_score_filters_keep_exactly_the_scored_traces(two: ServerThread) -> None:
    ids = trace_ids(two, A)[:12]
    sent = [{"name": SCORE, "trace_id": t, "value": i / 10, "source": "eval" if i % 2 else "api",
             "label": "bad" if i < 4 else "good", "score_id": f"u1-{t}"} for i, t in enumerate(ids)]
    r = two.client.post("/api/scores", json=sent, headers={"x-tokentrail-project": A})
    assert r.status_code == 200 and r.json()["accepted"] == len(sent), r.text
    two.flush()

    def expect(**want: object) -> set[str]:
        lo, hi = want.get("score_min"), want.get("score_max")
        return {s["trace_id"] for s in sent
                if (lo is None or s["value"] >= lo) and (hi is None or s["value"] <= hi)
                and want.get("score_source", s["source"]) == s["source"]
                and want.get("score_label", s["label"]) == s["label"]}

    for params in ({}, {"score_max": 0.3}, {"score_min": 0.5}, {"score_min": 0.2, "score_max": 0.6},
                   {"score_source": "eval"}, {"score_label": "bad", "score_source": "api"}):
        assert set(trace_ids(two, A, score_name=SCORE, **params)) == expect(**params), params
    for order in ("cost", "duration"):
        assert set(trace_ids(two, A, score_name=SCORE, order=order, score_max=0.3)) == expect(score_max=0.3)
    # the scores come with each trace, and another project's list knows none of them
    rows = two.client.get("/api/traces", params={"project": A, "score_name": SCORE, **window()}).json()["traces"]
    by_id = {s["trace_id"]: s for s in sent}
    for row in rows:
        mine = [s for s in row["scores"] if s["name"] == SCORE]
        assert [(s["value"], s["label"], s["source"]) for s in mine] == \
            [(by_id[row["trace_id"]]["value"], by_id[row["trace_id"]]["label"], by_id[row["trace_id"]]["source"])]
    assert trace_ids(two, B, score_name=SCORE) == []
    # a score sent again with its id is corrected: only its newest value counts (under a user filter too,
    # where the scores are read through that user's traces)
    first = sent[0]
    assert first["value"] == 0.0 and first["trace_id"] in trace_ids(two, A, score_name=SCORE, score_max=0.3)
    r = two.client.post("/api/scores", json=[{**first, "value": 0.9}], headers={"x-tokentrail-project": A})
    assert r.status_code == 200, r.text
    two.flush()
    first["value"] = 0.9
    assert set(trace_ids(two, A, score_name=SCORE, score_max=0.3)) == expect(score_max=0.3)
    assert first["trace_id"] in trace_ids(two, A, score_name=SCORE, score_min=0.85)
    users = {r["trace_id"]: r["u"] for r in two.query(
        "SELECT trace_id, anyIf(user_id, user_id != '') AS u FROM tokentrail.spans FINAL WHERE project = {p:String} "
        "AND trace_id IN {t:Array(String)} GROUP BY trace_id", {"p": A, "t": array_param([s["trace_id"] for s in sent])})}
    user = users[first["trace_id"]]
    assert user
    mine = [s for s in sent if users.get(s["trace_id"]) == user]
    assert set(trace_ids(two, A, score_name=SCORE, score_min=0.85, user=user)) == \
        {s["trace_id"] for s in mine if s["value"] >= 0.85}
    assert set(trace_ids(two, A, score_name=SCORE, score_max=0.3, user=user)) == \
        {s["trace_id"] for s in mine if s["value"] <= 0.3}
    r = two.client.get("/api/traces", params={"project": A, "score_min": "nan"})
    assert r.status_code == 400 and "finite" in r.json()["error"]


def test_a_score_sent_with_only_a_span_id_counts_for_its_trace(two: ServerThread) -> None:
    trace_id = trace_ids(two, A)[20]
    span = two.query("SELECT span_id FROM tokentrail.spans FINAL WHERE project = {p:String} AND trace_id = {t:String} "
                     "LIMIT 1", {"p": A, "t": trace_id})[0]["span_id"]
    r = two.client.post("/api/scores", json=[{"name": "span-only-check", "span_id": span, "value": 0.5}],
                        headers={"x-tokentrail-project": A})
    assert r.status_code == 200, r.text
    two.flush()
    assert trace_ids(two, A, score_name="span-only-check") == [trace_id]
    assert trace_ids(two, A, score_name="span-only-check", score_min=0.6) == []
    assert trace_ids(two, A, score_name="span-only-check", order="cost") == [trace_id]
    # the trace's row shows it, with or without a score filter; a score sent again shows its newest version
    for value in (0.75, 0.25):
        r = two.client.post("/api/scores", json=[{"name": "span-only-check", "span_id": span, "value": value,
                                                  "score_id": "again"}], headers={"x-tokentrail-project": A})
        assert r.status_code == 200, r.text
        two.flush()
    for params in ({}, {"score_name": "span-only-check"}):
        rows = two.client.get("/api/traces", params={"project": A, "limit": 500, **window(), **params}).json()["traces"]
        row = next(t for t in rows if t["trace_id"] == trace_id)
        assert sorted(s["value"] for s in row["scores"] if s["name"] == "span-only-check") == [0.25, 0.5], params


def test_a_reader_of_one_project_sees_only_its_name(two: ServerThread) -> None:
    # last in this module: the first key closes the server's open mode
    key = two.client.post("/api/admin/keys", json={"project": A, "scopes": ["read"], "name": "reader"}).json()["key"]
    trace_b = two.runtime.store.query("SELECT any(trace_id) AS t FROM tokentrail.spans WHERE project = {p:String}",
                                      {"p": B})[0]["t"]
    with httpx.Client(base_url=two.url, headers={"Authorization": f"Bearer {key}"}) as reader:
        doc = reader.get("/api/projects", params=window()).json()
        assert [r["project"] for r in doc["projects"]] == [A] and doc["current"] == A
        r = reader.get(f"/api/traces/{trace_b}")
        assert r.status_code == 404 and r.json()["error"] == f"no trace {trace_b} in project {A}"
        assert reader.get("/api/projects/holding", params={"trace_id": trace_b}).json() == {"projects": []}
        assert reader.get("/api/projects", params={"project": B}).status_code == 403
