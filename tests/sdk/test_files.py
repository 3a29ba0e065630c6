"""export="files": rotating JSON-lines files (local or S3) in the native batch format the server loads."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

import tokentrail
from tests.support import ServerThread, free_port
from tokentrail.ingest.native import NativeSpan

MESSAGES = [{"role": "user", "content": "hello"}]


def lines(paths: list[Path]) -> list[dict]:
    return [json.loads(line) for p in sorted(paths) for line in p.read_text().splitlines()]


def test_spans_and_scores_go_to_rotating_jsonl_files(oai: openai.OpenAI, tmp_path: Path, project: str) -> None:
    out = tmp_path / "logs"
    tokentrail.init(export="files", files_dir=str(out), project=project, files_rotate_mb=0.0005, batch_size=1, capture="always",
                    environment="prod", release="3.0")
    try:
        with tokentrail.context(user_id="u-1", route="search", metadata={"ab": "x"}):
            for _ in range(3):
                oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.1)
            tokentrail.feedback(1, name="thumbs")
        assert tokentrail.flush(10), tokentrail.stats()
    finally:
        tokentrail.shutdown()
    span_files = list((out / "spans").glob("dt=*/tokentrail-*.jsonl"))
    assert len(span_files) == 3  # rotated at ~500 bytes: one call per file
    assert not list((out / ".inflight").rglob("*.jsonl*"))  # nothing left half-written
    rows = lines(span_files)
    first = rows[0]
    assert (first["kind"], first["provider"], first["model"], first["route"], first["user_id"]) == (
        "llm", "openai", "gpt-4o-mini", "search", "u-1")
    assert (first["environment"], first["release"], first["status"]) == ("prod", "3.0", "ok")
    assert first["metadata"] == {"ab": "x"} and first["attributes"]["gen_ai.request.temperature"] == 0.1
    assert first["attributes"]["tokentrail.project"] == project
    assert first["attributes"]["tokentrail.capture_reason"] == "always"
    assert first["input_tokens"] > 0 and "hello" in first["input"]
    for row in rows:
        NativeSpan.model_validate(row)
    (score,) = lines(list((out / "scores").glob("dt=*/*.jsonl")))
    assert (score["name"], score["value"], score["span_id" if "span_id" in score else "request_id"]) == (
        "thumbs", 1.0, rows[-1]["span_id"])


def test_file_lines_load_through_the_native_batch_endpoint(oai: openai.OpenAI, tmp_path: Path,
                                                           server: ServerThread, project: str) -> None:
    out = tmp_path / "logs"
    tokentrail.init(export="files", files_dir=str(out), project=project)
    try:
        oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                    extra_headers={"X-Fake-Scenario": "cached:1"})
        assert tokentrail.flush(10)
    finally:
        tokentrail.shutdown()
    (line,) = lines(list(out.glob("spans/*/*.jsonl")))
    r = server.client.post("/api/ingest/batch", json=[line], headers={"x-tokentrail-project": project})
    assert r.status_code == 200, r.text
    (row,) = server.query("SELECT * FROM tokentrail.spans FINAL WHERE project = {p:String}", {"p": project})
    assert (row["span_id"], row["trace_id"], row["input_tokens"], row["cached_input_tokens"]) == (
        line["span_id"], line["trace_id"], line["input_tokens"], 1)
    assert (row["request_model"], row["status"], row["finish_reason"]) == ("gpt-4o-mini", "ok", "stop")


@pytest.fixture
def s3() -> Iterator[dict]:
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    url = f"http://127.0.0.1:{port}"
    bucket = f"llm-logs-{uuid.uuid4().hex[:8]}"  # moto keeps buckets process-wide, across servers
    boto3.client("s3", endpoint_url=url, aws_access_key_id="k", aws_secret_access_key="s",
                 region_name="us-east-1").create_bucket(Bucket=bucket)
    yield {"bucket": bucket, "options": {"key": "k", "secret": "s",
                                         "client_kwargs": {"endpoint_url": url, "region_name": "us-east-1"}}}
    moto.stop()


def test_files_are_uploaded_to_s3(oai: openai.OpenAI, s3: dict, tmp_path: Path, project: str) -> None:
    import fsspec

    tokentrail.init(export="files", files_dir=f"s3://{s3['bucket']}/raw", files_options=s3["options"], project=project,
                    spool_dir=str(tmp_path / "staging"))
    try:
        for _ in range(2):
            oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert tokentrail.flush(30), tokentrail.stats()
        assert tokentrail.stats()["files_written"] == 1
    finally:
        tokentrail.shutdown()
    fs = fsspec.filesystem("s3", **s3["options"])
    (path,) = fs.glob(f"{s3['bucket']}/raw/spans/dt=*/*.jsonl")
    rows = [json.loads(x) for x in fs.cat(path).decode().splitlines()]
    assert len(rows) == 2 and all(r["model"] == "gpt-4o-mini" for r in rows)
