"""The native JSON batch: flat calls for simple clients; bad items reported by index."""

from __future__ import annotations

from tests.clock import day
from tests.support import ServerThread

SEED_EVENT = {  # the flat per-request event of the seeds
    "timestamp": f"{day()}T15:32:11Z", "request_id": "req_abc123", "service": "support-assistant",
    "route": "classify_intent", "user_id_hash": "h_deadbeef", "model": "gpt-4o-mini-2024-07-18",
    "input_tokens": 1240, "output_tokens": 87, "latency_total_ms": 1180, "latency_to_first_token_ms": 320,
    "cached": False, "downstream_status": "200", "schema_validated": True,
}


def _rows(server: ServerThread, project: str) -> list[dict]:
    return server.query("SELECT * FROM tokentrail.spans FINAL WHERE project = {p:String} ORDER BY start_time",
                        {"p": project})


def test_seed_style_event_becomes_a_row(server: ServerThread, project: str) -> None:
    r = server.client.post("/api/ingest/batch", json={"spans": [SEED_EVENT]}, headers={"x-tokentrail-project": project})
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "rejected": 0, "expired": 0, "errors": []}
    (row,) = _rows(server, project)
    assert (row["route"], row["user_id"], row["service"]) == ("classify_intent", "h_deadbeef", "support-assistant")
    assert (row["input_tokens"], row["output_tokens"], row["http_status"]) == (1240, 87, 200)
    assert row["duration_ms"] == 1180 and row["ttft_ms"] == 320 and row["streamed"] is True
    assert row["schema_valid"] is True and row["cache_hit"] is False
    assert row["total_cost"] > 0 and row["kind"] == "llm"


def test_resent_event_with_request_id_dedupes(server: ServerThread, project: str) -> None:
    for _ in range(2):
        server.client.post("/api/ingest/batch", json=[SEED_EVENT], headers={"x-tokentrail-project": project})
    assert len(_rows(server, project)) == 1


def test_bad_items_are_reported_and_good_ones_kept(server: ServerThread, project: str) -> None:
    items = [dict(SEED_EVENT, request_id="a"), {"model": "gpt-4o", "input_tokens": -5},
             dict(SEED_EVENT, request_id="b"), "not an object", {"model": "x", "trace_id": "nothex"}]
    r = server.client.post("/api/ingest/batch", json=items, headers={"x-tokentrail-project": project})
    assert r.status_code == 400
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (2, 3)
    assert [e["index"] for e in body["errors"]] == [1, 3, 4]
    assert "input_tokens" in body["errors"][0]["error"]
    assert len(_rows(server, project)) == 2


def test_batch_must_be_a_list(server: ServerThread) -> None:
    r = server.client.post("/api/ingest/batch", json={"calls": 1})
    assert r.status_code == 400 and "list" in r.json()["error"]


def test_attributes_object_passes_opentelemetry_keys_through(server: ServerThread, project: str) -> None:
    """The SDK's log files put every key without a native field under ``attributes``."""
    item = dict(SEED_EVENT, request_id="with-attrs", attributes={
        "tokentrail.tokens_estimated": True, "tokentrail.capture_reason": "error",
        "gen_ai.request.temperature": 0.2, "nested": {"dropped": 1}}, output="hello")
    r = server.client.post("/api/ingest/batch", json=[item], headers={"x-tokentrail-project": project})
    assert r.status_code == 200, r.text
    (row,) = _rows(server, project)
    assert row["tokens_estimated"] is True
    assert row["attributes"]["gen_ai.request.temperature"] == "0.2"
    assert "nested" not in row["attributes"] and "tokentrail.metadata.attributes" not in row["attributes"]
    (content,) = server.query("SELECT captured_reason FROM tokentrail.contents FINAL WHERE project = {p:String}",
                              {"p": project})
    assert content["captured_reason"] == "error"


def test_a_token_count_beyond_the_column_is_refused_not_wrapped(server: ServerThread, project: str) -> None:
    r = server.client.post("/api/ingest/batch", json=[{"model": "gpt-4o", "input_tokens": 2**40},
                                                      {"model": "gpt-4o", "input_tokens": 7}],
                           headers={"x-tokentrail-project": project})
    assert r.status_code == 400 and r.json()["accepted"] == 1
    assert r.json()["errors"][0]["index"] == 0 and "input_tokens" in r.json()["errors"][0]["error"]
