"""Scenario: fuzz a live ``tokentrail serve``. Three generators, every answer recorded:

- ``api``: schemathesis cases from the server's own /openapi.json (every operation);
- ``dashboard``: the query strings the dashboard routes read outside the schema (``range``,
  ``since``/``until``, the dimension filters) from hypothesis;
- ``otlp``: mutations of real OTLP exports (protobuf: bit flips, overwritten, inserted, deleted
  and duplicated bytes, truncation; JSON: values replaced by arbitrary JSON, keys dropped, deep
  nesting, raw text edits), to /v1/traces and /v1/logs.

A failure is a 5xx or no answer within ``timeout`` (a hang); each is kept with a reproduction.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.reliability.harness import traffic_request
from tokentrail.demo.traffic import Traffic
from tokentrail.query.filters import DIMENSIONS

DASHBOARD_PATHS = ("/api/metrics/summary", "/api/metrics/timeseries", "/api/metrics/breakdown", "/api/cost",
                   "/api/quality", "/api/filters/values", "/api/traces", "/api/sessions", "/api/users",
                   "/api/pricing", "/api/stats/routes")


@dataclass
class Tally:
    timeout: float
    cases: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)  # first few, with what reproduces them

    def record(self, kind: str, send: Callable[[], httpx.Response], repro: Callable[[], dict[str, Any]]) -> None:
        self.cases += 1
        t0 = time.perf_counter()
        try:
            status = str(send().status_code)
        except httpx.TimeoutException:
            status = "hang"
        except httpx.TransportError as e:
            status = f"connection:{type(e).__name__}"
        self.statuses[f"{kind}:{status}"] += 1
        if (status[0] == "5" or not status[0].isdigit()) and len(self.failures) < 40:
            self.failures.append({"kind": kind, "status": status, "seconds": round(time.perf_counter() - t0, 2),
                                  **repro()})

    def figures(self) -> dict[str, Any]:
        bad = sum(n for k, n in self.statuses.items() if not k.split(":", 1)[1][0].isdigit()
                  or k.split(":", 1)[1][0] == "5")
        return {"cases": self.cases, "failed": bad,
                "server_errors": sum(n for k, n in self.statuses.items() if k.split(":", 1)[1][0] == "5"),
                "hangs": sum(n for k, n in self.statuses.items() if k.endswith(":hang")),
                "statuses": dict(self.statuses), "failures": self.failures}


def _settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck), print_blob=False)


# ---- the HTTP API from its OpenAPI schema ---------------------------------------------------

def api(url: str, tally: Tally, examples_per_operation: int) -> None:
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @_settings(examples_per_operation)
        def check(case: Any) -> None:
            def repro() -> dict[str, Any]:
                return {"method": case.method, "path": case.formatted_path, "query": case.query,
                        "body": repr(case.body)[:500], "curl": case.as_curl_command()[:1500]}

            tally.record("api", lambda: case.call(base_url=url, timeout=tally.timeout), repro)

        check()


# ---- dashboard query strings the schema does not declare -------------------------------------

_ranges = st.one_of(st.from_regex(r"\A\d{1,12}(\.\d{1,3})?(m|h|d|w)\Z"), st.text(max_size=12))
_times = st.one_of(st.datetimes().map(lambda d: d.isoformat()), st.text(max_size=30),
                   st.integers().map(str))
_query = st.fixed_dictionaries({}, optional={
    "range": _ranges, "since": _times, "until": _times, "project": st.text(max_size=20),
    **{d: st.text(max_size=20) for d in DIMENSIONS},
    "group_by": st.sampled_from([*DIMENSIONS, "x", ""]), "by": st.sampled_from([*DIMENSIONS, "user", "customer", "x"]),
    "metric": st.text(max_size=30), "order": st.text(max_size=12), "provider": st.text(max_size=20),
})


def dashboard(url: str, tally: Tally, examples: int) -> None:
    with httpx.Client(base_url=url, timeout=tally.timeout) as client:
        @given(path=st.sampled_from(DASHBOARD_PATHS), params=_query)
        @_settings(examples)
        def check(path: str, params: dict[str, str]) -> None:
            tally.record("dashboard", lambda: client.get(path, params=params),
                         lambda: {"method": "GET", "path": path, "query": params})

        check()


# ---- OTLP: mutated real exports --------------------------------------------------------------

def real_exports(count: int = 6) -> list[bytes]:
    traffic = Traffic(seed=21)
    return [traffic_request(traffic, n)[0] for n in range(1, count + 1)]


def to_json(body: bytes) -> Any:
    """OTLP/JSON of a protobuf export (ids as hex, as the OTLP spec wants)."""
    doc = MessageToDict(ExportTraceServiceRequest.FromString(body))
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return doc


@st.composite
def _mutated_protobuf(draw: st.DrawFn, originals: list[bytes]) -> bytes:
    body = bytearray(originals[draw(st.integers(0, len(originals) - 1))])
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "dup", "truncate"]))
        i = draw(st.integers(0, max(0, len(body) - 1)))
        if op == "flip" and body:
            body[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and body:
            body[i] = draw(st.integers(0, 255))
        elif op == "insert":
            body[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del body[i:i + draw(st.integers(1, 32))]
        elif op == "dup":
            body[i:i] = body[i:i + draw(st.integers(1, 64))]
        elif op == "truncate":
            del body[i:]
    return bytes(body)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats()
    | st.text(max_size=20) | st.sampled_from(["\ud800", "-9223372036854775808", "18446744073709551616", "", "0x"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def _mutated_json(draw: st.DrawFn, originals: list[Any]) -> bytes:
    doc = json.loads(json.dumps(originals[draw(st.integers(0, len(originals) - 1))]))
    nested: dict[str, tuple[int, str]] = {}  # placeholder -> (depth, JSON it wraps): added as text below
    for n in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(doc)[1:] or [()]))
        if not path:
            break
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        op = draw(st.sampled_from(["replace", "delete", "nest"]))
        if op == "replace":
            parent[path[-1]] = json.loads(json.dumps(draw(_json_values)))  # a copy: later ops edit it in place
        elif op == "delete":
            del parent[path[-1]]
        else:
            key = f"@nest{n}@"
            nested[key] = (draw(st.sampled_from([2, 50, 1200])), json.dumps(parent[path[-1]]))
            parent[path[-1]] = key
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()))
    for key, (depth, inner) in nested.items():  # deep nesting as text: no recursion in this process
        text = text.replace(json.dumps(key), "[" * depth + inner + "]" * depth)
    if draw(st.booleans()):  # a raw text edit
        i = draw(st.integers(0, len(text)))
        text = text[:i] + draw(st.text(max_size=4)) + text[i + draw(st.integers(0, 8)):]
    return text.encode("utf-8", "surrogatepass")


def otlp(url: str, tally: Tally, examples: int) -> None:
    originals = real_exports()
    json_originals = [to_json(b) for b in originals]
    body_strategy = st.one_of(
        st.tuples(st.just("application/x-protobuf"), _mutated_protobuf(originals)),
        st.tuples(st.just("application/json"), _mutated_json(json_originals)))
    with httpx.Client(base_url=url, timeout=tally.timeout) as client:
        @given(sent=body_strategy, path=st.sampled_from(["/v1/traces", "/v1/traces", "/v1/logs"]),
               gz=st.booleans())
        @_settings(examples)
        def check(sent: tuple[str, bytes], path: str, gz: bool) -> None:
            media, body = sent
            headers = {"content-type": media, "x-tokentrail-project": "fuzz"}
            content = gzip.compress(body) if gz else body
            if gz:
                headers["content-encoding"] = "gzip"

            def repro() -> dict[str, Any]:
                keep = None if len(tally.failures) < 5 else 4000  # the first few whole, to replay them
                return {"method": "POST", "path": path, "headers": headers,
                        "body_b64": base64.b64encode(body).decode()[:keep], "body_len": len(body)}

            tally.record("otlp", lambda: client.post(path, content=content, headers=headers), repro)

        check()


def run(url: str, *, api_per_operation: int, dashboard_cases: int, otlp_cases: int,
        timeout: float = 10) -> dict[str, Any]:
    t0 = time.monotonic()
    out: dict[str, Any] = {"scenario": "fuzz"}
    total = Tally(timeout)
    for name, fn, n in (("api", api, api_per_operation), ("dashboard", dashboard, dashboard_cases),
                        ("otlp", otlp, otlp_cases)):
        tally = Tally(timeout)
        fn(url, tally, n)
        out[name] = tally.figures()
        total.cases += tally.cases
        total.statuses.update(tally.statuses)
    summary = total.figures()
    out.update(cases=summary["cases"], server_errors=summary["server_errors"], hangs=summary["hangs"],
               seconds=round(time.monotonic() - t0, 1))
    return out
