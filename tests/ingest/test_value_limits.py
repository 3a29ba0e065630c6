"""A value longer than ingest_max_value_bytes is cut in the engine, marked and counted; shorter ones are
stored as they are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ServerThread, running_server
from tokentrail.ingest.normalize import TRUNCATED_MARK

LIMIT = 100


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with running_server(Path(tmp_path_factory.mktemp("limits")), ingest_max_value_bytes=LIMIT) as s:
        yield s


def _row(server: ServerThread, project: str) -> dict:
    span = server.query("SELECT attributes, user_id, trace_id, span_id FROM tokentrail.spans FINAL "
                        "WHERE project = {p:String}", {"p": project})[0]
    content = server.contents("project = {p:String} AND trace_id = {t:String} AND span_id = {s:String}",
                              {"p": project, "t": span["trace_id"], "s": span["span_id"]})
    return {**span, "input": content[0]["input"] if content else "", "output": content[0]["output"] if content else ""}


def test_long_attribute_and_content_are_cut_and_marked(small: ServerThread, project: str) -> None:
    item = {"model": "gpt-4o", "user_id": "u1", "input": "é" * 300, "output": "short",
            "metadata": {"note": "n" * 500, "tiny": "ok"}}
    r = small.client.post("/api/ingest/batch", json=[item], headers={"x-tokentrail-project": project})
    assert r.status_code == 200, r.text
    row = _row(small, project)
    note = row["attributes"]["tokentrail.metadata.note"]
    assert note == "n" * LIMIT + TRUNCATED_MARK
    assert row["attributes"]["tokentrail.metadata.tiny"] == "ok"
    assert row["input"].endswith(TRUNCATED_MARK) and len(row["input"].encode()) <= LIMIT + len(TRUNCATED_MARK.encode())
    assert row["input"].removesuffix(TRUNCATED_MARK) == "é" * (LIMIT // 2)  # never half a character
    assert row["output"] == "short" and row["user_id"] == "u1"
    assert set(row["attributes"]["tokentrail.truncated"].split(",")) == {"tokentrail.metadata.note", "tokentrail.input"}


def test_truncated_spans_are_counted_on_status_and_metrics(small: ServerThread, project: str) -> None:
    before = small.client.get("/api/ingest/status").json()["truncated_spans"]
    items = [{"model": "gpt-4o", "metadata": {"big": "x" * 1000}}, {"model": "gpt-4o"}]
    assert small.client.post("/api/ingest/batch", json=items, headers={"x-tokentrail-project": project}).is_success
    small.flush()
    assert small.client.get("/api/ingest/status").json()["truncated_spans"] == before + 1
    assert f"tokentrail_ingest_truncated_spans_total {float(before + 1)}" in small.client.get("/metrics").text


def test_values_within_the_limit_are_untouched(small: ServerThread, project: str) -> None:
    item = {"model": "gpt-4o", "input": "i" * LIMIT, "metadata": {"note": "n" * LIMIT}}
    assert small.client.post("/api/ingest/batch", json=[item], headers={"x-tokentrail-project": project}).is_success
    row = _row(small, project)
    assert row["input"] == "i" * LIMIT and row["attributes"]["tokentrail.metadata.note"] == "n" * LIMIT
    assert "tokentrail.truncated" not in row["attributes"]
