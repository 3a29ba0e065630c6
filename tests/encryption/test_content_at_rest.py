"""Content encrypted at rest: no plain prompt in the data dir on any ingest path, reads decrypt, a rotated
key still decrypts old rows, the blind index (Python and engine agree), search, purge and retention."""

from __future__ import annotations

import json
import secrets
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from tests.fake_llm import FakeLLM
from tests.gateway.conftest import write_config
from tests.ingest.otel_helpers import provider_exporting_to
from tests.support import ServerThread, running_server
from tokentrail.config import AGGREGATE_ROLLUPS, Settings
from tokentrail.privacy import content_keys, encryption, search_index
from tokentrail.storage.migrations import apply_retention


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_llm_server: FakeLLM) -> Iterator[ServerThread]:
    tmp = tmp_path_factory.mktemp("enc")
    config = write_config(tmp / "gateway.toml", fake_llm_server)
    with running_server(tmp / "data", gateway_config=str(config), gateway_capture="always") as s:
        yield s


def marker() -> str:
    return "zq" + secrets.token_hex(8)


def ingest_native(server: ServerThread, project: str, **item: Any) -> dict[str, Any]:
    body = {"model": "gpt-4o-mini", "input_tokens": 5, "output_tokens": 3, "trace_id": secrets.token_hex(16),
            "span_id": secrets.token_hex(8), **item}
    r = server.client.post("/api/ingest/batch", json=[body], headers={"x-tokentrail-project": project})
    assert r.status_code == 200, r.text
    return body


def trace_doc(server: ServerThread, project: str, trace_id: str) -> dict[str, Any]:
    server.flush()
    r = server.client.get(f"/api/traces/{trace_id}", params={"project": project})
    assert r.status_code == 200, r.text
    return r.json()


def scan_files(root: Path, needles: list[str]) -> dict[str, list[str]]:
    """Every file under ``root`` whose raw bytes hold one of ``needles``."""
    found: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits = [n for n in needles if n.encode() in data]
            if hits:
                found[str(path)] = hits
    return found


def scan_tables(server: ServerThread, needle: str) -> dict[str, int]:
    """Rows of every table of the store with ``needle`` in any column, as the engine reads them (parts
    decompressed): the check raw bytes cannot make on compressed parts."""
    store = server.runtime.store
    tables = store.query("SELECT name FROM system.tables WHERE database = 'tokentrail' AND engine LIKE '%MergeTree%'")
    found = {}
    for t in tables:
        cols = store.query("SELECT name FROM system.columns WHERE database = 'tokentrail' AND table = {t:String}",
                           {"t": t["name"]})
        cond = " OR ".join(f"position(toString({c['name']}), {{n:String}}) > 0" for c in cols)
        n = store.query(f"SELECT count() AS n FROM tokentrail.{t['name']} WHERE {cond}", {"n": needle})[0]["n"]
        if int(n):
            found[t["name"]] = int(n)
    return found


# -- the blind index ---------------------------------------------------------------------------------

CORPUS = [
    "Hello, World! hello world", "foo_bar-baz 123 x.y", "naïve ÉCOLE Straße", "中文字 テスト", "tab\there\nnew",
    "e-mail: a.b@example.com, phone +44 20 7946 0958", "~tilde~ and {braces} [brackets] (parens)",
    "x" * 64 + " " + "y" * 65, "", "   ", '{"role":"user","content":"What is the weather in Paris?"}',
    "ÀÉÎÕÜ àéîõü ΑΒΓ αβγ Привет привет",
]


def test_python_index_equals_the_engine_index(server: ServerThread) -> None:
    key = secrets.token_bytes(32)
    store = server.runtime.store
    for text in CORPUS:
        expr = search_index.sql_expr("{t:String}", f"unhex('{key.hex()}')")
        engine = store.query(f"SELECT {expr} AS h", {"t": text})[0]["h"]
        assert sorted(int(h) for h in engine) == sorted(search_index.index(key, text)), text


def test_a_word_hashes_the_same_in_any_case_and_under_another_key_differently() -> None:
    key = secrets.token_bytes(32)
    assert search_index.index(key, "Paris") == search_index.index(key, "PARIS") == search_index.index(key, "paris")
    assert search_index.index(key, "paris") != search_index.index(secrets.token_bytes(32), "paris")


# -- keys ----------------------------------------------------------------------------------------------

def test_a_key_is_generated_into_the_data_dir_owner_only(server: ServerThread) -> None:
    path = Path(server.settings.data_dir) / content_keys.KEY_FILE_NAME
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = content_keys.load("", Path(server.settings.data_dir))
    assert ring is not None and ring.active.key_id == server.runtime.content_keys.active.key_id


def test_bad_key_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(content_keys.KeyConfigError, match="32 bytes"):
        content_keys.load("c2hvcnQ=", tmp_path)
    bad = tmp_path / "keys"
    bad.write_text("no separator here\n")
    with pytest.raises(content_keys.KeyConfigError, match="line 1"):
        content_keys.load(f"@{bad}", tmp_path)
    assert content_keys.load("off", tmp_path) is None


# -- at rest -------------------------------------------------------------------------------------------

def test_no_plain_prompt_in_the_data_dir_on_any_path(server: ServerThread, fake_llm_server: FakeLLM,
                                                     project: str) -> None:
    markers = {path: marker() for path in ("otlp", "native", "gateway", "logs", "otlp_out", "native_out")}
    # OTLP spans (OpenInference keys) through the real OTel SDK
    provider = provider_exporting_to(server.url, project)
    with provider.get_tracer("t").start_as_current_span("llm", attributes={
            "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "user.id": "u-at-rest",
            "input.value": f"tell me about {markers['otlp']}", "output.value": f"sure {markers['otlp_out']}"}):
        pass
    provider.shutdown()
    # the native batch
    native = ingest_native(server, project, input=f"question {markers['native']}", output=markers["native_out"])
    # the gateway, with the official client against the fake provider
    client = openai.OpenAI(base_url=f"{server.url}/gateway/openai/v1", api_key="sk-test", max_retries=0,
                           default_headers={"X-Tokentrail-Project": project})
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": markers["gateway"]}])
    # OTLP log records carrying a span's content
    logger_provider = LoggerProvider(resource=Resource.create({"service.name": "enc"}))
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(
        endpoint=f"{server.url}/v1/logs", headers={"X-Tokentrail-Project": project})))
    tracer = provider_exporting_to(server.url, project)
    with tracer.get_tracer("opentelemetry.instrumentation.openai_v2").start_as_current_span("chat", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.system": "openai"}) as span:
        logger_provider.get_logger("opentelemetry.instrumentation.openai_v2").emit(
            event_name="gen_ai.user.message", body={"content": markers["logs"]}, context=trace.set_span_in_context(span),
            attributes={"gen_ai.system": "openai"})
    tracer.shutdown()
    logger_provider.shutdown()
    server.runtime.settle()

    # every path stored content, and reads give it back decrypted
    stored = server.contents("project = {p:String}", {"p": project})
    texts = json.dumps(stored)
    for m in markers.values():
        assert m in texts, m
    assert trace_doc(server, project, native["trace_id"])["content"][native["span_id"]]["input"] == \
        f"question {markers['native']}"
    # ... under the active key, as ciphertext
    active = server.runtime.content_keys.active.key_id
    raw = server.runtime.store.query("SELECT key_id, input, output FROM tokentrail.contents FINAL "
                                     "WHERE project = {p:String}", {"p": project})
    assert raw and {r["key_id"] for r in raw} == {active}
    # nowhere in the store (parts read by the engine) nor in any file of the data dir
    for m in markers.values():
        assert scan_tables(server, m) == {}, m
    assert scan_files(Path(server.settings.data_dir), list(markers.values())) == {}


def test_an_unknown_key_shows_a_marker_not_an_error(server: ServerThread, project: str) -> None:
    item = ingest_native(server, project, input="some prompt", output="some answer")
    server.flush()
    server.runtime.store.command(
        "INSERT INTO tokentrail.contents (project, trace_id, span_id, start_time, key_id, input, output, "
        "captured_reason, ingested_at) SELECT project, trace_id, span_id, start_time, 'retired', "
        "concat(randomString(12), input), output, captured_reason, ingested_at + 1 FROM tokentrail.contents FINAL "
        "WHERE project = {p:String}", {"p": project})
    doc = trace_doc(server, project, item["trace_id"])
    content = doc["content"][item["span_id"]]
    assert content["input"].startswith("[content unavailable: encrypted with key 'retired'")
    assert "content_error" in content
    r = server.client.get(f"/api/sessions/{secrets.token_hex(4)}", params={"project": project})
    assert r.status_code in (200, 404)


# -- rotation ------------------------------------------------------------------------------------------

def test_rotated_key_still_decrypts_old_rows_and_rotate_content_moves_all(server: ServerThread, project: str) -> None:
    rt = server.runtime
    old = ingest_native(server, project, input="before rotation alpha", output="old answer")
    server.flush()
    old_id = rt.content_keys.active.key_id
    # a new key on top of the key file: new content uses it, old content still reads with the old one
    ring = content_keys.add_key(content_keys.load("", Path(server.settings.data_dir)))
    rt.content_keys = ring
    encryption.configure(ring)
    new = ingest_native(server, project, input="after rotation beta", output="new answer")
    server.flush()
    ids = {r["span_id"]: r["key_id"] for r in rt.store.query(
        "SELECT span_id, key_id FROM tokentrail.contents FINAL WHERE project = {p:String}", {"p": project})}
    assert ids == {old["span_id"]: old_id, new["span_id"]: ring.active.key_id}
    assert trace_doc(server, project, old["trace_id"])["content"][old["span_id"]]["input"] == "before rotation alpha"
    assert trace_doc(server, project, new["trace_id"])["content"][new["span_id"]]["input"] == "after rotation beta"
    # search finds both, whichever key indexed them
    for word, item in (("alpha", old), ("beta", new)):
        found = server.client.get("/api/search", params={"q": word, "project": project}).json()
        assert [t["trace_id"] for t in found["traces"]] == [item["trace_id"]]
    # rotate-content: every row under the active key, still readable, still searchable
    r = server.client.post("/api/admin/content/rotate", json={})
    assert r.status_code == 200, r.text
    assert r.json()["key_id"] == ring.active.key_id and r.json()["failed"] == 0
    keys = rt.store.query("SELECT DISTINCT key_id FROM tokentrail.contents FINAL WHERE key_id != 'retired'")
    assert [k["key_id"] for k in keys] == [ring.active.key_id]
    assert trace_doc(server, project, old["trace_id"])["content"][old["span_id"]]["input"] == "before rotation alpha"
    found = server.client.get("/api/search", params={"q": "ALPHA before", "project": project}).json()
    assert [t["trace_id"] for t in found["traces"]] == [old["trace_id"]]


def test_rotation_with_a_new_key_through_the_cli(server: ServerThread, project: str) -> None:
    from click.testing import CliRunner

    from tokentrail.cli.main import main

    item = ingest_native(server, project, input="cli rotation gamma", output="x")
    server.flush()
    before = server.runtime.content_keys.active.key_id
    res = CliRunner().invoke(main, ["keys", "rotate-content", "--new-key", "--url", server.url,
                                    "--data-dir", str(server.settings.data_dir)])
    assert res.exit_code == 0, res.output
    result = json.loads(res.output.strip().splitlines()[-1])
    assert result["key_id"] != before and result["key_id"] == server.runtime.content_keys.active.key_id
    lines = (Path(server.settings.data_dir) / content_keys.KEY_FILE_NAME).read_text().splitlines()
    assert [ln.split(":")[0] for ln in lines if not ln.startswith("#")][:2] == [result["key_id"], before]
    assert trace_doc(server, project, item["trace_id"])["content"][item["span_id"]]["input"] == "cli rotation gamma"


# -- search ----------------------------------------------------------------------------------------------

def test_search_finds_traces_holding_every_word(server: ServerThread, project: str) -> None:
    word = marker()
    a = ingest_native(server, project, input=f"The Weather in {word} today", output="sunny")
    b = ingest_native(server, project, input=f"{word} traffic report", output="jammed")
    ingest_native(server, project, input="nothing to see", output="here")
    server.flush()

    def hits(q: str) -> set[str]:
        r = server.client.get("/api/search", params={"q": q, "project": project})
        assert r.status_code == 200, r.text
        return {t["trace_id"] for t in r.json()["traces"]}

    assert hits(word.upper()) == {a["trace_id"], b["trace_id"]}
    assert hits(f"weather {word}") == {a["trace_id"]}
    assert hits(f"{word} SUNNY") == {a["trace_id"]}  # input and output together
    assert hits(f"{word} rain") == set()
    assert server.client.get("/api/search", params={"q": "  ,, ", "project": project}).status_code == 400
    doc = server.client.get("/api/search", params={"q": f"weather {word}", "project": project}).json()
    (t,) = doc["traces"]
    assert "".join(p["text"] for p in t["match"]["parts"]) == f"The Weather in {word} today"
    assert [p["text"] for p in t["match"]["parts"] if p["mark"]] == ["Weather", word]



def test_the_traces_list_searches_encrypted_content_with_its_filters_and_orders(server: ServerThread,
                                                                                project: str) -> None:
    """GET /api/traces?q=: the same blind-index match as /api/search, combined with every other filter of the
    traces list and each order (what the UI's search box sends)."""
    word = marker()
    cheap = ingest_native(server, project, input=f"refund for {word}", output="done", route="billing",
                          input_tokens=10, output_tokens=2)
    dear = ingest_native(server, project, input=f"{word} refund again", output="escalated", route="billing",
                         model="gpt-4o", input_tokens=4000, output_tokens=900)
    other_route = ingest_native(server, project, input=f"{word} refund", output="ok", route="support")
    ingest_native(server, project, input="refund without the marker", output="ok", route="billing")
    server.flush()
    assert b"refund" not in b"".join(p.read_bytes() for p in Path(server.settings.data_dir).rglob("*.bin")
                                    if "contents" in str(p))

    def listed(**params: Any) -> list[str]:
        r = server.client.get("/api/traces", params={"project": project, "range": "1h", **params})
        assert r.status_code == 200, r.text
        return [t["trace_id"] for t in r.json()["traces"]]

    assert set(listed(q=f"REFUND {word}")) == {cheap["trace_id"], dear["trace_id"], other_route["trace_id"]}
    assert set(listed(q=f"refund {word}", route="billing")) == {cheap["trace_id"], dear["trace_id"]}
    assert listed(q=f"{word} escalated", route="billing") == [dear["trace_id"]]  # input and output together
    assert listed(q=f"{word} refund", route="billing", order="cost") == [dear["trace_id"], cheap["trace_id"]]
    assert listed(q=f"{word} refund", route="billing", model="gpt-4o", order="duration") == [dear["trace_id"]]
    assert listed(q=f"{word} nowhere") == []
    assert len(listed(q="   ")) >= 4  # blank: no text filter

    # each trace found says where: the prompt or response holding the words, the words marked
    r = server.client.get("/api/traces", params={"project": project, "range": "1h", "q": f"Refund {word}"})
    found = {t["trace_id"]: t["match"] for t in r.json()["traces"]}
    cut = found[cheap["trace_id"]]
    assert (cut["field"], cut["before"], cut["after"]) == ("input", False, False)
    assert "".join(p["text"] for p in cut["parts"]) == f"refund for {word}"  # the prompt sent
    assert [p["text"] for p in cut["parts"] if p["mark"]] == ["refund", word]
    r = server.client.get("/api/traces", params={"project": project, "range": "1h", "q": "ESCALATED"})
    cut = {t["trace_id"]: t["match"] for t in r.json()["traces"]}[dear["trace_id"]]
    assert cut["field"] == "output" and [p for p in cut["parts"] if p["mark"]] == [{"text": "escalated", "mark": True}]
    assert all("match" not in t for t in server.client.get(
        "/api/traces", params={"project": project, "range": "1h"}).json()["traces"])  # no search: no snippet
    r = server.client.get("/api/traces", params={"project": project, "q": " ,, "})
    assert r.status_code == 400 and "word" in r.json()["error"]
    r = server.client.get("/api/traces", params={"project": project, "q": " ".join(f"w{i}" for i in range(40))})
    assert r.status_code == 400 and "at most" in r.json()["error"]


# -- purge -----------------------------------------------------------------------------------------------

def test_purge_leaves_no_row_of_the_user_anywhere(server: ServerThread, project: str) -> None:
    user, other = "purge-" + secrets.token_hex(6), "keep-" + secrets.token_hex(6)
    session = "sess-" + secrets.token_hex(6)
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    gone = [ingest_native(server, project, user_id=user, session_id=session, customer="acme", input=f"q{i} by {user}",
                          output="a", timestamp=(now - timedelta(minutes=i)).isoformat()) for i in range(3)]
    kept = ingest_native(server, project, user_id=other, customer="acme", input="keep me", output="b",
                         timestamp=now.isoformat())
    server.flush()
    for item in gone[:1] + [kept]:
        r = server.client.post("/api/scores", json={"trace_id": item["trace_id"], "name": "thumbs", "value": 1,
                                                     "user_id": item["user_id"]},
                               headers={"x-tokentrail-project": project})
        assert r.status_code == 200, r.text
    # a saved view of the UI filtered on that user (and one on the other, which stays)
    for who in (user, other):
        r = server.client.post("/api/views", params={"project": project},
                               json={"name": f"calls of {who}", "page": "traces", "query": f"user={who}&range=7d"})
        assert r.status_code == 200, r.text
    server.runtime.settle()
    server.runtime.refresh_rollups(all_levels=True)
    assert scan_tables(server, user)  # it is there before

    r = server.client.post("/api/admin/purge", json={"user": user})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["traces"] == 3 and result["remaining"] == {} and result["deleted"]["saved_views"] == 1
    assert scan_tables(server, user) == {}
    views = server.client.get("/api/views", params={"project": project}).json()["views"]
    assert [v["name"] for v in views] == [f"calls of {other}"]
    # the other user's data is whole; the minute rollups agree with the spans left
    assert server.query("SELECT count() AS n FROM tokentrail.spans FINAL WHERE user_id = {u:String}",
                        {"u": other})[0]["n"] == 1
    rolled = server.query("SELECT sum(requests) AS n FROM tokentrail.rollup_minute FINAL WHERE project = {p:String}",
                          {"p": project})[0]["n"]
    spans = server.query("SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {p:String} "
                         "AND kind IN ('llm', 'embedding')", {"p": project})[0]["n"]
    assert int(rolled) == int(spans)
    # idempotent; the audit row holds a digest, not the id
    again = server.client.post("/api/admin/purge", json={"user": user}).json()
    assert again["traces"] == 0 and again["remaining"] == {}
    assert server.client.post("/api/admin/purge", json={"user": "a", "session": "b"}).status_code == 400


# -- retention -------------------------------------------------------------------------------------------

def test_retention_settings_land_as_ttls(server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, days in (("RETENTION_SPANS_DAYS", 11), ("RETENTION_CONTENTS_DAYS", 3), ("RETENTION_SCORES_DAYS", 40),
                       ("RETENTION_USER_ROLLUPS_DAYS", 50), ("RETENTION_ROLLUPS_DAYS", 400)):
        monkeypatch.setenv("TOKENTRAIL_" + name, str(days))
    retention = Settings.load().retention
    store = server.runtime.store
    try:
        apply_retention(store, retention)
        engines = {r["name"]: r["engine_full"] for r in store.query(
            "SELECT name, engine_full FROM system.tables WHERE database = 'tokentrail'")}
        want = {"spans": 11, "contents": 3, "scores": 40, "rollup_day_user": 50, "rollup_day_session": 50,
                **{t: 400 for t in AGGREGATE_ROLLUPS}}
        for table, days in want.items():
            assert f"toIntervalDay({days})" in engines[table], (table, engines[table])
    finally:
        apply_retention(store, server.settings.retention)
    engines = {r["name"]: r["engine_full"] for r in store.query(
        "SELECT name, engine_full FROM system.tables WHERE database = 'tokentrail'")}
    assert " TTL " not in engines["rollup_minute"]  # kept forever again (0)


def test_batch_files_store_content_encrypted_on_both_load_paths(server: ServerThread, project: str,
                                                               tmp_path: Path) -> None:
    """A JSON-lines file through ``tokentrail ingest`` (the server's chunk API): a plain native line takes the
    engine's fast path, a line with attributes the Python one; both store ciphertext under the active key."""
    import subprocess
    import sys

    fast, slow = marker(), marker()
    trace_fast, span_fast = secrets.token_hex(16), secrets.token_hex(8)
    lines = [json.dumps({"model": "gpt-4o-mini", "input_tokens": 5, "output_tokens": 3, "trace_id": trace_fast,
                         "span_id": span_fast, "input": f"batch prompt {fast}", "output": "ok",
                         "start_time": datetime.now(UTC).isoformat()}),
             json.dumps({"model": "gpt-4o-mini", "input_tokens": 5, "output_tokens": 3,
                         "trace_id": secrets.token_hex(16), "span_id": secrets.token_hex(8),
                         "input": f"with attributes {slow}", "output": "ok", "attributes": {"app.tier": "gold"},
                         "start_time": datetime.now(UTC).isoformat()})]
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(lines) + "\n")
    r = subprocess.run([sys.executable, "-m", "tokentrail.cli.main", "ingest", str(path), "--url", server.url,
                        "--project", project, "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"] == 2, r.stdout
    server.runtime.settle()
    assert f"batch prompt {fast}" in trace_doc(server, project, trace_fast)["content"][span_fast]["input"]
    raw = server.runtime.store.query("SELECT key_id FROM tokentrail.contents FINAL WHERE project = {p:String}",
                                     {"p": project})
    assert len(raw) == 2 and {r["key_id"] for r in raw} == {server.runtime.content_keys.active.key_id}
    for m in (fast, slow):
        assert scan_tables(server, m) == {}, m
    assert scan_files(Path(server.settings.data_dir), [fast, slow]) == {}


def test_search_needs_read_content(server: ServerThread, project: str) -> None:
    """Last in the module: once a key exists the server is no longer open."""
    ingest_native(server, project, input="secret plans delta", output="x")
    server.flush()
    made: dict[str, str] = {}
    for scopes in (["admin"], ["read"], ["read", "read-content"]):  # the first key (admin) makes the others
        headers = {"Authorization": f"Bearer {made['admin']}"} if made else {}
        r = server.client.post("/api/admin/keys", json={"project": project if scopes != ["admin"] else "*",
                                                        "scopes": scopes}, headers=headers)
        assert r.status_code == 200, r.text
        made[",".join(scopes)] = r.json()["key"]
    q = {"q": "delta", "project": project}
    assert server.client.get("/api/search", params=q).status_code == 401
    r = server.client.get("/api/search", params=q, headers={"Authorization": f"Bearer {made['read']}"})
    assert r.status_code == 403
    r = server.client.get("/api/search", params=q, headers={"Authorization": f"Bearer {made['read,read-content']}"})
    assert r.status_code == 200 and len(r.json()["traces"]) == 1
    admin = {"Authorization": f"Bearer {made['admin']}"}
    assert server.client.post("/api/admin/purge", json={"user": "x"}, headers={
        "Authorization": f"Bearer {made['read,read-content']}"}).status_code == 403
    audit = server.client.get("/api/admin/audit", params={"action": "content.search"}, headers=admin)
    assert audit.status_code == 200 and audit.json(), audit.text
