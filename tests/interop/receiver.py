"""A tiny in-process OTLP/HTTP receiver that records every export request (for interop captures).

Accepts POST /v1/traces, /v1/logs, /v1/metrics and Langfuse's /api/public/otel/v1/traces (any path ending
in one of those), protobuf or JSON, gzip/deflate encoded or not. Every other request is recorded raw and
answered 200 ``{}`` so that a library calling some side API does not crash.

    with OTLPReceiver() as rx:
        ...export to rx.endpoint ("http://127.0.0.1:PORT") ...
        rx.exports       # list of dicts: path, signal, headers, content_type, body (MessageToDict), raw_size
        rx.take()        # the exports so far, and forget them
"""

from __future__ import annotations

import base64
import gzip
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

SIGNALS = {
    "traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "logs": (ExportLogsServiceRequest, ExportLogsServiceResponse),
    "metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
}
LANGFUSE_TRACES_PATH = "/api/public/otel/v1/traces"
_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def signal_for_path(path: str) -> str | None:
    path = path.split("?", 1)[0].rstrip("/")
    for signal in SIGNALS:
        if path.endswith(f"/v1/{signal}"):
            return signal
    return None


def _hex_ids(node: Any) -> Any:
    """MessageToDict renders bytes ids as base64; turn trace/span ids into the usual hex."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                value = base64.b64decode(value).hex()
            out[key] = _hex_ids(value)
        return out
    if isinstance(node, list):
        return [_hex_ids(item) for item in node]
    return node


def decode_body(signal: str, raw: bytes, content_type: str) -> dict[str, Any]:
    request_cls = SIGNALS[signal][0]
    message = request_cls()
    if "json" in content_type:
        json_format.Parse(raw.decode("utf-8"), message, ignore_unknown_fields=True)
    else:
        message.ParseFromString(raw)
    return _hex_ids(json_format.MessageToDict(message))


def _decompress(raw: bytes, encoding: str) -> bytes:
    encoding = encoding.lower().strip()
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "deflate":
        return zlib.decompress(raw)
    return raw


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr access log
        pass

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.owner._record({"method": "GET", "path": self.path, "headers": dict(self.headers.items())})
        self._reply(200, b"{}", "application/json")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        content_type = headers.get("content-type", "")
        record: dict[str, Any] = {
            "method": "POST",
            "path": self.path,
            "headers": headers,
            "content_type": content_type,
            "content_encoding": headers.get("content-encoding", ""),
            "raw_size": len(raw),
            "time": time.time(),
        }
        signal = signal_for_path(self.path)
        record["signal"] = signal
        if signal is None:
            record["body_text"] = raw[:4000].decode("utf-8", "replace")
            self.server.owner._record(record)
            self._reply(200, b"{}", "application/json")
            return
        try:
            record["body"] = decode_body(signal, _decompress(raw, record["content_encoding"]), content_type)
        except Exception as exc:  # keep the evidence, answer 400 like a collector would
            record["decode_error"] = f"{type(exc).__name__}: {exc}"
            self.server.owner._record(record)
            self._reply(400, b"{}", "application/json")
            return
        self.server.owner._record(record)
        response = SIGNALS[signal][1]()
        if "json" in content_type:
            self._reply(200, json_format.MessageToJson(response).encode(), "application/json")
        else:
            self._reply(200, response.SerializeToString(), "application/x-protobuf")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: OTLPReceiver


class OTLPReceiver:
    """Records OTLP export requests on 127.0.0.1 (port 0 = a free one) from a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.owner = self
        self._lock = threading.Lock()
        self._exports: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _record(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._exports.append(record)

    @property
    def exports(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._exports)

    def take(self) -> list[dict[str, Any]]:
        with self._lock:
            taken, self._exports = self._exports, []
        return taken

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Wait until ``predicate(exports)`` is true (for exporters that send late)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.exports):
                return True
            time.sleep(0.05)
        return predicate(self.exports)

    def start(self) -> OTLPReceiver:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="otlp-receiver", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


# -- readable views -------------------------------------------------------------------------------------


def any_value(value: dict[str, Any]) -> Any:
    """An OTLP AnyValue (MessageToDict form) as a plain Python value."""
    if not value:
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return value["doubleValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        return [any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attrs(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return {"bytes_b64": value["bytesValue"]}
    return value


def attrs(key_values: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {kv["key"]: any_value(kv.get("value", {})) for kv in key_values or []}


def simplify(record: dict[str, Any]) -> dict[str, Any]:
    """One recorded export as a readable dict (resource/scope/spans|logs|metrics with flat attributes)."""
    out: dict[str, Any] = {
        "path": record.get("path"),
        "signal": record.get("signal"),
        "headers": record.get("headers"),
    }
    if "decode_error" in record:
        out["decode_error"] = record["decode_error"]
    if "body_text" in record:
        out["body_text"] = record["body_text"]
    body = record.get("body")
    if not body:
        return out
    signal = record["signal"]
    outer_key, inner_key, items_key = {
        "traces": ("resourceSpans", "scopeSpans", "spans"),
        "logs": ("resourceLogs", "scopeLogs", "logRecords"),
        "metrics": ("resourceMetrics", "scopeMetrics", "metrics"),
    }[signal]
    resources = []
    for resource in body.get(outer_key, []):
        scopes = []
        for scope in resource.get(inner_key, []):
            simple_items = [_simplify_item(signal, item) for item in scope.get(items_key, [])]
            scope_info = scope.get("scope", {})
            scopes.append(
                {
                    "scope": {
                        "name": scope_info.get("name"),
                        "version": scope_info.get("version"),
                        "attributes": attrs(scope_info.get("attributes")),
                    },
                    "schema_url": scope.get("schemaUrl"),
                    items_key: simple_items,
                }
            )
        resources.append(
            {
                "resource": attrs(resource.get("resource", {}).get("attributes")),
                "schema_url": resource.get("schemaUrl"),
                "scopes": scopes,
            }
        )
    out["resources"] = resources
    return out


def _nanos(value: Any) -> int | None:
    return int(value) if value is not None else None


def _simplify_item(signal: str, item: dict[str, Any]) -> dict[str, Any]:
    if signal == "traces":
        start, end = _nanos(item.get("startTimeUnixNano")), _nanos(item.get("endTimeUnixNano"))
        return {
            "name": item.get("name"),
            "kind": item.get("kind"),
            "trace_id": item.get("traceId"),
            "span_id": item.get("spanId"),
            "parent_span_id": item.get("parentSpanId"),
            "duration_ms": round((end - start) / 1e6, 3) if start and end else None,
            "status": item.get("status", {}),
            "attributes": attrs(item.get("attributes")),
            "events": [
                {
                    "name": event.get("name"),
                    "offset_ms": round((_nanos(event.get("timeUnixNano")) - start) / 1e6, 3)
                    if start and event.get("timeUnixNano")
                    else None,
                    "attributes": attrs(event.get("attributes")),
                }
                for event in item.get("events", [])
            ],
            "links": [
                {
                    "trace_id": link.get("traceId"),
                    "span_id": link.get("spanId"),
                    "attributes": attrs(link.get("attributes")),
                }
                for link in item.get("links", [])
            ],
            "flags": item.get("flags"),
        }
    if signal == "logs":
        return {
            "event_name": item.get("eventName"),
            "severity": item.get("severityText") or item.get("severityNumber"),
            "trace_id": item.get("traceId"),
            "span_id": item.get("spanId"),
            "body": any_value(item.get("body", {})),
            "attributes": attrs(item.get("attributes")),
        }
    # metrics: name, unit, type and the data points' attributes and values
    kind = next(
        (k for k in ("sum", "gauge", "histogram", "exponentialHistogram", "summary") if k in item), None
    )
    points = []
    for point in (item.get(kind) or {}).get("dataPoints", []) if kind else []:
        simple = {"attributes": attrs(point.get("attributes"))}
        for key in ("asInt", "asDouble", "count", "sum", "min", "max"):
            if key in point:
                simple[key] = point[key]
        points.append(simple)
    return {"name": item.get("name"), "unit": item.get("unit"), "type": kind, "data_points": points}
