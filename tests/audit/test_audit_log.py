"""The audit log against a real server and store: content reads are recorded with who, what and from
where; the admin API and the CLI filter it; its retention is the table's TTL; a failing store never
reaches the caller and loses nothing silently."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from tests.support import ServerThread
from tokentrail import audit
from tokentrail.cli.main import main
from tokentrail.config import Settings
from tokentrail.storage import migrations


def _send_call(server: ServerThread, project: str, session: str = "") -> str:
    trace_id = uuid.uuid4().hex
    item = {"trace_id": trace_id, "span_id": trace_id[:16], "model": "gpt-4o-mini", "input_tokens": 5,
            "output_tokens": 3, "input": "what is the capital of France?", "output": "Paris.",
            **({"session_id": session} if session else {})}
    r = server.client.post("/api/ingest/batch", json=[item], headers={"x-tokentrail-project": project})
    assert r.status_code == 200, r.text
    server.flush()
    return trace_id


def _audit(server: ServerThread, **params: str) -> list[dict]:
    r = server.client.get("/api/admin/audit", params=params)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def test_a_trace_read_with_content_is_recorded_with_actor_target_and_address(server: ServerThread,
                                                                              project: str) -> None:
    trace_id = _send_call(server, project)
    doc = server.client.get(f"/api/traces/{trace_id}", params={"project": project},
                            headers={"user-agent": "audit-test/1"}).json()
    assert doc["content"][trace_id[:16]]["output"] == "Paris."  # content really went out
    rows = _audit(server, project=project, action="content.read")
    assert len(rows) == 1
    row = rows[0]
    assert (row["actor"], row["target"], row["ip"], row["user_agent"]) == ("local", trace_id, "127.0.0.1",
                                                                           "audit-test/1")
    assert "1 spans with content" in row["detail"]
    stored = server.runtime.store.query("SELECT count() AS n FROM tokentrail.audit_log WHERE target = {t:String}",
                                        {"t": trace_id})
    assert stored[0]["n"] == 1  # in the table, not only in memory


def test_a_session_read_with_content_is_recorded(server: ServerThread, project: str) -> None:
    session = f"s-{uuid.uuid4().hex[:8]}"
    _send_call(server, project, session)
    turns = server.client.get(f"/api/sessions/{session}", params={"project": project}).json()["turns"]
    assert turns[0]["output"] == "Paris."
    rows = _audit(server, project=project, target=session)
    assert [r["action"] for r in rows] == ["content.read"] and "1 turns with content" in rows[0]["detail"]


def test_listings_without_content_are_not_content_reads(server: ServerThread, project: str) -> None:
    _send_call(server, project)
    assert server.client.get("/api/traces", params={"project": project}).status_code == 200
    assert server.client.get("/api/metrics/summary", params={"project": project}).status_code == 200
    assert _audit(server, project=project) == []


def test_filters_by_actor_action_family_project_and_time(server: ServerThread, project: str) -> None:
    store = server.runtime.store
    other = project + "-other"
    audit.record(store, actor="user:alice", action="key.create", project=project, target="tt_aaaa1111")
    audit.record(store, actor="user:alice", action="key.revoke", project=project, target="tt_aaaa1111")
    audit.record(store, actor="user:bob", action="policy.change", project=project, detail="sample 0.1")
    audit.record(store, actor="user:alice", action="key.create", project=other, target="tt_bbbb2222")
    assert len(_audit(server, project=project)) == 3
    assert sorted(r["action"] for r in _audit(server, project=project, actor="user:alice")) == ["key.create",
                                                                                               "key.revoke"]
    assert {r["actor"] for r in _audit(server, project=project, action="policy.change")} == {"user:bob"}
    assert len(_audit(server, project=project, action="key.*")) == 2
    assert [r["project"] for r in _audit(server, project=other)] == [other]
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert _audit(server, project=project, since=later) == []
    assert len(_audit(server, project=project, range="1h")) == 3
    assert _audit(server, project=project, until=(datetime.now(UTC) - timedelta(hours=1)).isoformat()) == []


def test_bad_filters_are_a_400(server: ServerThread) -> None:
    for params in ({"since": "yesterday"}, {"range": "forever"}, {"project": "no spaces"}):
        r = server.client.get("/api/admin/audit", params=params)
        assert r.status_code in (400, 422) and "error" in r.json(), (params, r.text)


def test_cli_reads_through_the_running_server(server: ServerThread, project: str) -> None:
    audit.record(server.runtime.store, actor="user:carol", action="export", project=project, detail="csv 12 rows")
    result = CliRunner().invoke(main, ["audit", "--url", server.url, "--project", project, "--action", "export",
                                       "--since", "1h", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["actor"], r["detail"]) for r in rows] == [("user:carol", "csv 12 rows")]
    bad = CliRunner().invoke(main, ["audit", "--url", server.url, "--since", "last tuesday"])
    assert bad.exit_code != 0 and "since" in bad.output


def test_retention_is_the_table_ttl(server: ServerThread) -> None:
    engine = server.runtime.store.query("SELECT engine_full FROM system.tables WHERE database = 'tokentrail' "
                                        "AND name = 'audit_log'")[0]["engine_full"]
    assert f"toIntervalDay({server.settings.retention_audit_days})" in engine
    r = server.client.get("/api/admin/audit").json()
    assert r["retention_days"] == 365
    # another setting changes the existing table's TTL (as at the next start), 0 removes it
    store = server.runtime.store
    for days, expected in ((30, "toIntervalDay(30)"), (0, None), (365, "toIntervalDay(365)")):
        migrations.apply_retention(store, Settings.load(retention_audit_days=days).retention)
        engine = store.query("SELECT engine_full FROM system.tables WHERE database = 'tokentrail' "
                             "AND name = 'audit_log'")[0]["engine_full"]
        assert (expected in engine) if expected else " TTL " not in engine, (days, engine)


class _FailingStore:
    database = "tokentrail"

    def __init__(self) -> None:
        self.fail = True
        self.rows: list[dict] = []

    def insert_arrow(self, table: str, data) -> None:  # noqa: ANN001
        if self.fail:
            raise RuntimeError("disk on fire")
        self.rows += data.to_pylist()


def test_a_failing_store_never_raises_into_the_caller_and_drops_are_counted(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(audit.buffer, "MAX_ROWS", 5)
    store = _FailingStore()
    for i in range(8):
        audit.record(store, actor="user:x", action="content.read", target=str(i))  # never raises
    audit.flush(store)  # fails: rows kept for the next try, up to the bound
    assert audit.dropped(store) == 3
    store.fail = False
    audit.flush(store)
    assert sorted(r["target"] for r in store.rows if r["action"] == "content.read") == ["0", "1", "2", "3", "4"]
    dropped = [r for r in store.rows if r["action"] == "audit.dropped"]
    assert len(dropped) == 1 and dropped[0]["detail"].startswith("3 audit rows were dropped")
    audit.close(store)
