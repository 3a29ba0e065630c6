"""Shared by the batch tests: events like the seeds', writing them as files, loading them."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from tests.clock import EPOCH, day

SEED_EVENT: dict[str, Any] = {
    "timestamp": f"{day()}T15:32:11Z", "request_id": "req_abc123", "service": "support-assistant",
    "route": "classify_intent", "user_id_hash": "h_deadbeef", "model": "gpt-4o-mini-2024-07-18",
    "input_tokens": 1240, "output_tokens": 87, "latency_total_ms": 1180, "latency_to_first_token_ms": 320,
    "cached": False, "downstream_status": "200", "schema_validated": True,
}

OTLP_LINE: dict[str, Any] = {"resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "otel-app"}}]},
    "scopeSpans": [{"spans": [{
        "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "chat gpt-4o",
        "startTimeUnixNano": f"{EPOCH}000000000", "endTimeUnixNano": f"{EPOCH + 1}000000000",
        "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                       {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "100"}}]}]}]}]}


def events(n: int, prefix: str = "req", **fields: Any) -> list[dict[str, Any]]:
    return [dict(SEED_EVENT, request_id=f"{prefix}_{i}", input_tokens=100 + i, **fields) for i in range(n)]


def write_lines(path: Path, lines: list[Any], compress: bool = False) -> Path:
    """JSON lines (a str is written as it is); gzip when asked."""
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text) if compress else text)
    return path


def count(store: Any, project: str) -> int:
    rows = store.query("SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {p:String}", {"p": project})
    return rows[0]["n"]
