"""Loading from S3 (a local moto server speaking the S3 API): listing, gzip, resume, new objects."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.batch.conftest import Local
from tests.batch.helpers import events
from tests.clock import day
from tests.support import free_port

BUCKET = "llm-logs"


@pytest.fixture
def s3() -> Iterator[dict[str, Any]]:
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=url, aws_access_key_id="k", aws_secret_access_key="s",
                          region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    try:
        yield {"client": client, "options": {"key": "k", "secret": "s",
                                             "client_kwargs": {"endpoint_url": url, "region_name": "us-east-1"}}}
    finally:
        server.stop()


def _put(s3: dict[str, Any], key: str, rows: list[dict], compress: bool = False) -> None:
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    s3["client"].put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(body) if compress else body)


def test_an_s3_prefix_loads_once_and_new_objects_later(local: Local, s3: dict[str, Any]) -> None:
    _put(s3, f"raw/spans/dt={day()}/a.jsonl", events(40, "a"))
    _put(s3, f"raw/spans/dt={day()}/b.jsonl.gz", events(25, "b"), compress=True)
    _put(s3, "raw/.inflight/c.jsonl", events(5, "c"))
    _put(s3, f"raw/scores/dt={day()}/s.jsonl", [{"name": "thumbs", "value": 1, "span_id": "b7ad6b7169203331"}])
    first = local.ingest(f"s3://{BUCKET}/raw/", options=s3["options"])
    assert (first.files, first.rows, first.rejected) == (3, 66, 0)  # 65 spans and 1 score
    _put(s3, f"raw/spans/dt={day(1)}/d.jsonl", events(10, "d"))
    later = local.ingest(f"s3://{BUCKET}/raw/", options=s3["options"])
    assert (later.unchanged, later.new, later.rows) == (3, 1, 10)
    assert local.count() == local.count(final=False) == 75
    sources = local.store.query("SELECT source FROM tokentrail.batch_files FINAL ORDER BY source")
    assert sources[0]["source"] == f"s3://{BUCKET}/raw/scores/dt={day()}/s.jsonl"


def test_a_stopped_s3_load_resumes_mid_object(local: Local, s3: dict[str, Any]) -> None:
    _put(s3, "raw/big.jsonl", events(2000, "big"))
    _put(s3, "raw/big.jsonl.gz", events(2000, "gz"), compress=True)
    real, loads = local.target.load, []

    def stop_at_fourth(chunk, data, keep):  # type: ignore[no-untyped-def]
        loads.append(chunk.source)
        if len(loads) == 4:
            raise KeyboardInterrupt
        return real(chunk, data, keep)

    local.target.load = stop_at_fourth  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        local.ingest(f"s3://{BUCKET}/raw/big.jsonl*", chunk_bytes=64 << 10, options=s3["options"])
    local.target.load = real  # type: ignore[method-assign]
    loaded = local.count()
    assert 0 < loaded < 4000
    rest = local.ingest(f"s3://{BUCKET}/raw/big.jsonl*", chunk_bytes=64 << 10, options=s3["options"])
    assert rest.rows == 4000 - loaded
    assert local.count() == local.count(final=False) == 4000


def test_the_command_reads_s3_with_fs_options(s3: dict[str, Any], tmp_path: Path) -> None:
    _put(s3, "cli/a.jsonl.gz", events(12, "cli"), compress=True)
    endpoint = s3["options"]["client_kwargs"]["endpoint_url"]
    r = subprocess.run([sys.executable, "-m", "tokentrail.cli.main", "ingest", f"s3://{BUCKET}/cli/",
                        "--data-dir", str(tmp_path / "data"), "--port", str(free_port()), "--json",
                        "--fs-option", "key=k", "--fs-option", "secret=s",
                        "--fs-option", f'client_kwargs={{"endpoint_url": "{endpoint}", "region_name": "us-east-1"}}'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"] == 12
