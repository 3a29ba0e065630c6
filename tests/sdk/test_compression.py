"""Export bodies are gzip-compressed by default (Content-Encoding: gzip), plain with compression="none"."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import tokentrail
from tests.sdk.conftest import spans
from tests.sdk.test_outage import make_calls
from tests.support import ServerThread


class _Recording(BaseHTTPRequestHandler):
    requests: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recording.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recording)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def _exported(compression: str | None, endpoint: str, oai: openai.OpenAI) -> tuple[dict[str, str], bytes]:
    settings = {} if compression is None else {"compression": compression}
    tokentrail.init(endpoint=endpoint, flush_seconds=30, **settings)
    try:
        make_calls(oai, 3)
        assert tokentrail.flush(10)
    finally:
        tokentrail.shutdown()
    (headers, body), = [r for r in _Recording.requests]
    return headers, body


def test_gzip_by_default(recorder: str, oai: openai.OpenAI) -> None:
    headers, body = _exported(None, recorder, oai)
    assert headers["content-encoding"] == "gzip" and headers["content-type"] == "application/x-protobuf"
    req = ExportTraceServiceRequest.FromString(gzip.decompress(body))
    assert sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans) == 3
    assert len(body) < len(gzip.decompress(body))


def test_plain_when_asked(recorder: str, oai: openai.OpenAI) -> None:
    headers, body = _exported("none", recorder, oai)
    assert "content-encoding" not in headers
    req = ExportTraceServiceRequest.FromString(body)
    assert sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans) == 3


def test_the_server_takes_compressed_exports(server: ServerThread, project: str, oai: openai.OpenAI) -> None:
    tokentrail.init(endpoint=server.url, project=project, flush_seconds=30)
    try:
        make_calls(oai, 2)
        assert tokentrail.flush(10)
        assert tokentrail.stats()["spans_exported"] == 2
    finally:
        tokentrail.shutdown()
    assert len(spans(server, project, 2)) == 2
