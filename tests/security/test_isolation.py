"""Project isolation: a key of one project never reads or writes another, whatever the request names:
trace ids, session ids, request ids (scores linked by ``span_id``), filters, batch files, the data's own
``tokentrail.project`` attribute. Real server, real HTTP, real store."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.security.keyed import ALPHA, BETA, Keyed
from tests.support import wait_for
from tokentrail.audit.buffer import flush as flush_audit
from tokentrail.auth.keys import create_key


def _call(keyed: Keyed, key: str, **fields: object) -> tuple[str, str]:
    """One LLM call sent with ``key`` through the native batch; (trace id, span id)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    item = {"trace_id": trace_id, "span_id": span_id, "model": "gpt-4o-mini", "input_tokens": 5, "output_tokens": 7,
            "input": "the secret prompt", "output": "the secret answer", "session_id": f"s-{trace_id[:8]}", **fields}
    with keyed.client(key) as c:
        r = c.post("/api/ingest/batch", json=[item])
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    return trace_id, span_id


def _projects_of(keyed: Keyed, trace_id: str) -> list[str]:
    return [r["project"] for r in keyed.query("SELECT project FROM tokentrail.spans FINAL WHERE trace_id = {t:String}",
                                              {"t": trace_id})]


def test_a_trace_of_another_project_is_not_found(keyed: Keyed) -> None:
    trace_id, _ = _call(keyed, "alpha_ingest")
    keyed.flush()
    with keyed.client("alpha_read") as c:
        assert c.get(f"/api/traces/{trace_id}").status_code == 200
    with keyed.client("beta_read") as c:
        assert c.get(f"/api/traces/{trace_id}").status_code == 404
        assert c.get(f"/api/traces/{trace_id}", params={"project": ALPHA}).status_code == 403
        assert c.get(f"/api/traces/{trace_id}", headers={"X-Tokentrail-Project": ALPHA}).status_code == 403
        assert c.get(f"/api/sessions/s-{trace_id[:8]}").status_code == 404


def test_filters_and_lists_only_ever_show_the_key_s_project(keyed: Keyed) -> None:
    trace_id, _ = _call(keyed, "alpha_ingest", user_id="alice-in-alpha")
    keyed.flush()
    with keyed.client("beta_read") as c:
        listed = c.get("/api/traces", params={"range": "1h", "user": "alice-in-alpha"}).json()
        assert listed["traces"] == []
        users = c.get("/api/users", params={"range": "1h"}).json()
        assert "alice-in-alpha" not in str(users)
        assert c.get("/api/traces", params={"range": "1h", "project": ALPHA}).status_code == 403
    with keyed.client("alpha_read") as c:
        listed = c.get("/api/traces", params={"range": "1h", "user": "alice-in-alpha"}).json()
        assert [t["trace_id"] for t in listed["traces"]] == [trace_id]


def test_the_project_named_in_the_data_is_overridden_by_the_key(keyed: Keyed) -> None:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="tokentrail.project", value=AnyValue(string_value=BETA)))
    span = rs.scope_spans.add().spans.add()
    trace_id = secrets.token_bytes(16)
    span.trace_id, span.span_id, span.name = trace_id, secrets.token_bytes(8), "chat gpt-4o-mini"
    now = time.time_ns()
    span.start_time_unix_nano, span.end_time_unix_nano = now - 10**9, now
    span.attributes.append(KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o-mini")))
    with keyed.client("alpha_ingest") as c:
        r = c.post("/v1/traces", content=req.SerializeToString(), headers={"content-type": "application/x-protobuf"})
        assert r.status_code == 200, r.text
        # naming another project in the request itself is refused outright
        r = c.post("/v1/traces", content=req.SerializeToString(),
                   headers={"content-type": "application/x-protobuf", "X-Tokentrail-Project": BETA})
        assert r.status_code == 403
    assert _projects_of(keyed, trace_id.hex()) == [ALPHA]


def test_scores_cannot_reach_a_span_of_another_project_by_its_request_id(keyed: Keyed) -> None:
    trace_id, span_id = _call(keyed, "alpha_ingest")
    keyed.flush()
    with keyed.client("beta_ingest") as c:
        r = c.post("/api/scores", json=[{"span_id": span_id, "name": "thumbs", "value": 0}])
        assert r.status_code == 404 and r.json()["errors"][0]["not_found"]
    with keyed.client("alpha_ingest") as c:
        r = c.post("/api/scores", json=[{"span_id": span_id, "name": "thumbs", "value": 1}])
        assert r.status_code == 200, r.text
    with keyed.client("beta_read") as c:
        assert c.get("/api/scores", params={"span_id": span_id}).json()["scores"] == []
        assert c.get("/api/scores", params={"trace_id": trace_id}).json()["scores"] == []
    with keyed.client("alpha_read") as c:
        assert [s["value"] for s in c.get("/api/scores", params={"span_id": span_id}).json()["scores"]] == [1]


def test_a_batch_chunk_is_loaded_into_the_key_s_project_whatever_it_names(keyed: Keyed) -> None:
    import json

    from tests.batch.test_through_server import SEED_EVENT, _chunk  # the loader's own test helpers
    from tokentrail.batch.targets import CHUNK_HEADER

    trace_id = secrets.token_hex(16)
    data = (json.dumps({**SEED_EVENT, "trace_id": trace_id, "request_id": trace_id}) + "\n").encode()
    with keyed.client("beta_ingest") as c:
        r = c.post("/api/ingest/files/chunk", content=data,
                   headers={CHUNK_HEADER: json.dumps(_chunk(ALPHA, data, restart=True)),
                            "content-type": "application/octet-stream"})
        assert r.status_code == 200, r.text
        states = c.post("/api/ingest/files/states", json={"project": ALPHA}).json()
        assert states["project"] == BETA
    assert set(_projects_of(keyed, trace_id)) <= {BETA}


def test_content_needs_read_content_and_says_why_it_is_hidden(keyed: Keyed) -> None:
    trace_id, _ = _call(keyed, "alpha_ingest")
    keyed.flush()
    with keyed.client("alpha_read") as c:
        doc = c.get(f"/api/traces/{trace_id}").json()
    assert "secret prompt" not in str(doc) and "read-content" in doc["content_hidden"]
    with keyed.client("alpha_content") as c:
        doc = c.get(f"/api/traces/{trace_id}").json()
    assert "the secret prompt" in str(doc["content"]) and "content_hidden" not in doc


def test_a_revoked_key_is_refused_within_seconds(keyed: Keyed) -> None:
    with keyed.client(keyed.admin) as c:
        made = c.post("/api/admin/keys", json={"project": ALPHA, "scopes": ["read"], "name": "to revoke"}).json()
        with keyed.client(made["key"]) as k:
            assert k.get("/api/traces").status_code == 200
            listed = c.get("/api/admin/keys").json()["keys"]
            assert made["key"] not in str(listed) and made["prefix"] in str(listed)
            assert c.delete(f"/api/admin/keys/{made['prefix']}").json()["state"] == "revoked"
            wait_for(lambda: k.get("/api/traces").status_code == 401, 10)


def test_a_key_of_another_server_sharing_the_store_is_seen_within_seconds(keyed: Keyed) -> None:
    """A key written to the store by someone else (another server, the CLI) works here after a reload."""
    raw, _ = create_key(keyed.server.runtime.store, ALPHA, ["read"], name="made elsewhere")
    with keyed.client(raw) as c:
        wait_for(lambda: c.get("/api/traces").status_code == 200, 10)


def test_an_expired_key_is_refused(keyed: Keyed) -> None:
    raw, key = create_key(keyed.server.runtime.store, ALPHA, ["read"], expires_in=timedelta(seconds=2))
    keyed.server.runtime.keys.refresh()
    assert key.expires_at < datetime.now(UTC) + timedelta(seconds=3)
    with keyed.client(raw) as c:
        wait_for(lambda: c.get("/api/traces").status_code == 401, 10)


def test_a_project_admin_manages_only_its_project_s_keys(keyed: Keyed) -> None:
    with keyed.client("beta_admin") as c:
        listed = c.get("/api/admin/keys").json()["keys"]
        assert {k["project"] for k in listed} == {BETA}
        alpha_prefix = next(k for k in keyed.as_admin("GET", "/api/admin/keys").json()["keys"]
                            if k["project"] == ALPHA)["prefix"]
        assert c.delete(f"/api/admin/keys/{alpha_prefix}").status_code == 404
        assert c.post("/api/admin/keys", json={"project": "*", "scopes": ["admin"]}).status_code == 403
        assert c.post("/api/admin/keys", json={"project": ALPHA, "scopes": ["read"]}).status_code == 403


def test_the_traces_list_text_search_needs_read_content_and_stays_in_the_project(keyed: Keyed) -> None:
    word = "zq" + secrets.token_hex(6)
    trace_id, _ = _call(keyed, "alpha_ingest", input=f"where is order {word}")
    keyed.flush()
    with keyed.client("alpha_read") as c:  # may list traces, may not search what they say
        r = c.get("/api/traces", params={"range": "1h", "q": word})
        assert r.status_code == 403 and "read-content" in r.json()["error"]
        assert c.get("/api/traces", params={"range": "1h"}).status_code == 200
    with keyed.client("alpha_content") as c:
        found = c.get("/api/traces", params={"range": "1h", "q": word.upper()}).json()
        assert [t["trace_id"] for t in found["traces"]] == [trace_id]
    with keyed.client("beta_content") as c:
        assert c.get("/api/traces", params={"range": "1h", "q": word}).json()["traces"] == []
        assert c.get("/api/traces", params={"range": "1h", "q": word, "project": ALPHA}).status_code == 403
    flush_audit(keyed.server.runtime.store)
    audit = keyed.query("SELECT actor, detail FROM tokentrail.audit_log WHERE action = 'content.search' "
                        "AND detail LIKE '%traces list%'")
    assert audit and not any(word in r["detail"] for r in audit)  # the words are not recorded
