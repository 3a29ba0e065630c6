"""Interop accuracy matrix: for every third-party instrumentation library x scenario, how many stored fields
are RIGHT against the truth the fake LLM provider returned, on two server builds fed the SAME captured exports.
Prints one JSON line.

    python bench/interop_matrix.py [--before /tmp/session_start] [--after .] [--captures DIR] [--libs a,b]

The build before is a worktree of an earlier commit, e.g. ``git worktree add /tmp/session_start 5b5a01c``
(the commit this figure was first measured against: 584 / 662 fields right there, 611 / 662 after).

1. Capture: each library (tests/interop/capture.py, current tests/ code) runs once in its own subprocess
   against the fake provider and an in-process OTLP receiver; every export is recorded (``<scenario>.raw.json``).
   ``--captures DIR`` reuses (or fills) DIR instead of a temporary directory.
2. Replay: for each build, and each library, a fresh ``tokentrail serve`` subprocess (``PYTHONPATH=<build>/src``,
   its own temp data dir) gets every recorded trace/log export in the recorded order, rebuilt from the raw
   JSON with ``ParseDict`` and POSTed as protobuf on the recorded path (Langfuse: ``/api/public/otel/v1/traces``
   with the recorded Basic auth and ``--langfuse-keys``); metrics exports are not replayed (no such route).
   Then ``POST /api/admin/flush``.
3. Read: the spans of each scenario are those of the trace ids found in that scenario's exports, read with
   ``GET /api/traces/{id}``; the counted calls are the spans of kind llm/embedding, in start-time order.
4. Compare with the truth (tests/interop/harness.py): a field a library does not send is simply wrong.

Fields compared, per counted call (``tool_call`` has two calls, each compared to its own truth; a missing call
has every field wrong, with the stored value null):

- every scenario: ``calls`` (once per scenario: the number of counted calls), ``request_model``,
  ``response_model`` (``tests.fake_llm.scenarios.dated(model)``, empty on the 429s), ``input_tokens``,
  ``output_tokens`` (0/0 on the 429s), ``finish`` (stop; tool_calls then stop; '' for embeddings; error on the
  429s), ``streamed``, ``ttft_ms`` (streams: a value with 150 <= ttft <= duration; other calls: null),
  ``status`` (ok / error), ``user_id``, ``session_id``;
- ``http_status`` (429) on the 429 scenarios; ``cached_input_tokens`` 4 and ``reasoning_tokens`` 3 on
  openai_chat_cached; ``cached_input_tokens`` 4 and ``cache_write_tokens`` 2 on anthropic_cached.

A build whose spans have no ``finish`` column (the one before it existed) is given the canonical finish computed
from its raw ``finish_reason`` by the CURRENT ``tokentrail.ingest.finish`` (the engine's rule: the raw value's
canonical one, or ``error`` for a failed call without one); the output says which builds got that.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.fake_llm.scenarios import dated  # noqa: E402
from tests.interop.capture import ANTHROPIC_SCENARIOS, LIBS, OPENAI_SCENARIOS  # noqa: E402
from tokentrail.ingest.finish import canonical  # noqa: E402  (the CURRENT code's mapping)

USER, SESSION = "user-123", "session-abc"
OPENAI, EMBEDDING, ANTHROPIC = "gpt-4o-mini", "text-embedding-3-small", "claude-haiku-4-5"
FIRST_TOKEN_MS = 150
LANGFUSE_KEYS = "pk-lf-interop:sk-lf-interop=default"  # capture.py's key pair
NO_ANTHROPIC = {"otel-openai-v2", "otel-openai-v2-latest"}
FORWARD_HEADERS = ("authorization", "x-tokentrail-project")
_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


# -- capture --------------------------------------------------------------------------------------------


def capture(lib: str, outdir: Path) -> dict[str, Any]:
    if (outdir / "_run.json").exists():
        return json.loads((outdir / "_run.json").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACELOOP_", "LANGFUSE_"))}
    proc = subprocess.run([sys.executable, "-m", "tests.interop.capture", lib, str(outdir)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    if not (outdir / "_run.json").exists():
        raise RuntimeError(f"capture of {lib} failed (rc={proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads((outdir / "_run.json").read_text())


def scenarios_of(lib: str) -> list[str]:
    return list(OPENAI_SCENARIOS) + ([] if lib in NO_ANTHROPIC else list(ANTHROPIC_SCENARIOS))


def recorded(outdir: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every recorded export of one library as (file stem, record), in the order they were received."""
    out = []
    for f in outdir.glob("*.raw.json"):
        for r in json.loads(f.read_text()):
            out.append((f.name[: -len(".raw.json")], r))
    out.sort(key=lambda item: item[1].get("time", 0))
    return out


def trace_ids(records: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = []
    for r in records:
        if r.get("signal") != "traces" or "body" not in r:
            continue
        for rs in r["body"].get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for s in ss.get("spans", []):
                    if s.get("traceId") and s["traceId"] not in ids:
                        ids.append(s["traceId"])
    return ids


def _b64_ids(node: Any) -> Any:
    """The inverse of receiver._hex_ids: hex trace/span ids back to MessageToDict's base64."""
    if isinstance(node, dict):
        return {k: (base64.b64encode(bytes.fromhex(v)).decode() if k in _ID_KEYS and isinstance(v, str)
                    else _b64_ids(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_b64_ids(v) for v in node]
    return node


def protobuf(record: dict[str, Any]) -> bytes:
    cls = ExportTraceServiceRequest if record["signal"] == "traces" else ExportLogsServiceRequest
    return json_format.ParseDict(_b64_ids(record["body"]), cls()).SerializeToString()


# -- a server build -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, build: Path, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENTRAIL_")}
        env["PYTHONPATH"] = str(build / "src")
        self.log = (data_dir.parent / f"{data_dir.name}.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tokentrail.cli.main", "serve", "--data-dir", str(data_dir), "--port",
             str(self.port), "--log-level", "warning", "--langfuse-keys", LANGFUSE_KEYS],
            cwd=str(data_dir.parent), env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, timeout=120)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server {build} exited rc={self.proc.returncode}: see {self.log.name}")
            try:
                if self.client.get("/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server {build} not ready: see {self.log.name}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def replay(server: Server, records: list[tuple[str, dict[str, Any]]]) -> dict[str, int]:
    sent = {"traces": 0, "logs": 0, "skipped": 0, "refused": 0}
    for _stem, r in records:
        if r.get("signal") not in ("traces", "logs") or "body" not in r:
            sent["skipped"] += 1
            continue
        headers = {"content-type": "application/x-protobuf"}
        headers.update({k: v for k, v in r.get("headers", {}).items() if k in FORWARD_HEADERS})
        path = r["path"].split("?", 1)[0]
        resp = server.client.post(path, content=protobuf(r), headers=headers)
        if resp.status_code >= 300:
            sent["refused"] += 1
        else:
            sent[r["signal"]] += 1
    assert server.client.post("/api/admin/flush").json()["flushed"]
    return sent


def stored_spans(server: Server, ids: list[str]) -> list[dict[str, Any]]:
    spans: dict[str, dict[str, Any]] = {}
    for tid in ids:
        resp = server.client.get(f"/api/traces/{tid}", params={"project": "default"})
        if resp.status_code == 404:
            continue
        resp.raise_for_status()
        for s in resp.json()["spans"]:
            spans[s["span_id"]] = s
    return sorted(spans.values(), key=lambda s: s["start_time"])


# -- truth and comparison -------------------------------------------------------------------------------


def truth(scenario: str) -> list[dict[str, Any]]:
    """The truth of each counted call of a scenario, field by field (a callable: a predicate on the value)."""
    anthropic = scenario.startswith("anthropic")
    error = scenario.endswith("_429")
    stream = scenario.endswith("_stream")
    model = EMBEDDING if scenario == "openai_embeddings" else ANTHROPIC if anthropic else OPENAI
    base: dict[str, Any] = {
        "request_model": model,
        "response_model": "" if error else dated(model),
        "input_tokens": 0 if error else 4 if scenario == "openai_embeddings" else 9,
        "output_tokens": 0 if error or scenario == "openai_embeddings" else 13 if scenario == "openai_chat_cached"
        else 10,
        "finish": "error" if error else "" if scenario == "openai_embeddings" else "stop",
        "streamed": stream,
        "ttft_ms": (f">= {FIRST_TOKEN_MS} and <= duration_ms" if stream else None),
        "status": "error" if error else "ok",
        "user_id": USER,
        "session_id": SESSION,
    }
    if error:
        base["http_status"] = 429
    if scenario == "openai_chat_cached":
        base.update(cached_input_tokens=4, reasoning_tokens=3)
    if scenario == "anthropic_cached":
        base.update(cached_input_tokens=4, cache_write_tokens=2)
    if scenario == "openai_tool_call":
        return [{**base, "input_tokens": 6, "output_tokens": 10, "finish": "tool_calls"},
                {**base, "input_tokens": 10, "output_tokens": 10}]
    return [base]


def finish_of(span: dict[str, Any]) -> tuple[str, bool]:
    """The stored canonical finish, and whether it was computed here (the build has no ``finish`` column)."""
    if "finish" in span:
        return span["finish"], False
    raw = span.get("finish_reason") or ""
    value = canonical(raw) or ("error" if span.get("status") == "error" else "")
    return value, True


def right(field: str, stored: Any, true: Any, span: dict[str, Any] | None) -> bool:
    if span is None:
        return False
    if field == "ttft_ms":
        if true is None:
            return stored is None
        return stored is not None and FIRST_TOKEN_MS <= stored <= span["duration_ms"]
    return stored == true


def compare(lib: str, scenario: str, spans: list[dict[str, Any]], notes: set[str]) -> tuple[int, int, list]:
    calls = [s for s in spans if s["kind"] in ("llm", "embedding")]
    wanted = truth(scenario)
    compared, ok, wrong = 1, 0, []
    if len(calls) == len(wanted):
        ok += 1
    else:
        wrong.append({"lib": lib, "scenario": scenario, "field": "calls", "stored": len(calls),
                      "true": len(wanted)})
    for i, fields in enumerate(wanted):
        span = calls[i] if i < len(calls) else None
        for field, true in fields.items():
            if span is None:
                stored = None
            elif field == "finish":
                stored, computed = finish_of(span)
                if computed:
                    notes.add("finish computed from finish_reason by the current tokentrail.ingest.finish")
            else:
                stored = span.get(field)
            compared += 1
            if right(field, stored, true, span):
                ok += 1
            else:
                name = field if len(wanted) == 1 else f"{field}[call {i + 1}]"
                wrong.append({"lib": lib, "scenario": scenario, "field": name, "stored": stored, "true": true})
    return ok, compared, wrong


def measure(build: Path, lib: str, capdir: Path, workdir: Path) -> dict[str, Any]:
    records = recorded(capdir / lib)
    data_dir = workdir / f"{build.name or 'build'}-{lib}"
    server = Server(build, data_dir)
    notes: set[str] = set()
    try:
        sent = replay(server, records)
        ok = compared = 0
        wrong: list[dict[str, Any]] = []
        for scenario in scenarios_of(lib):
            ids = trace_ids([r for stem, r in records if stem == scenario])
            o, c, w = compare(lib, scenario, stored_spans(server, ids), notes)
            ok, compared, wrong = ok + o, compared + c, wrong + w
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return {"fields_right": ok, "fields_compared": compared, "wrong": wrong, "sent": sent, "notes": sorted(notes)}


def run_build(name: str, build: Path, libs: list[str], capdir: Path, workdir: Path, jobs: int) -> dict[str, Any]:
    (workdir / name).mkdir()
    with ThreadPoolExecutor(jobs) as pool:
        results = dict(zip(libs, pool.map(lambda lib: measure(build, lib, capdir, workdir / name), libs),
                           strict=True))
    right_ = sum(r["fields_right"] for r in results.values())
    compared = sum(r["fields_compared"] for r in results.values())
    notes = sorted({n for r in results.values() for n in r["notes"]})
    return {
        "build": str(build),
        "fields_right": right_,
        "fields_compared": compared,
        "ratio": round(right_ / compared, 4) if compared else None,
        "per_library": {lib: {"fields_right": r["fields_right"], "fields_compared": r["fields_compared"],
                              "replayed": r["sent"]} for lib, r in results.items()},
        "notes": notes,
        "wrong": [w for r in results.values() for w in r["wrong"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="/tmp/session_start", help="the build before (a worktree)")
    parser.add_argument("--after", default=str(ROOT), help="the build after (default: this tree)")
    parser.add_argument("--captures", help="capture directory to reuse or fill (default: a temporary one)")
    parser.add_argument("--libs", default=",".join(LIBS))
    parser.add_argument("--jobs", type=int, default=3, help="servers (and captures) run at once")
    args = parser.parse_args()
    libs = [lib for lib in args.libs.split(",") if lib]
    workdir = Path(tempfile.mkdtemp(prefix="interop-matrix-"))
    capdir = Path(args.captures) if args.captures else workdir / "captures"
    capdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    try:
        with ThreadPoolExecutor(args.jobs) as pool:
            runs = dict(zip(libs, pool.map(lambda lib: capture(lib, capdir / lib), libs), strict=True))
        builds = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
        out: dict[str, Any] = {"bench": "interop_matrix", "libs": libs,
                               "capture_errors": {lib: r.get("errors", {}) for lib, r in runs.items()
                                                  if r.get("errors")}}
        for name, build in builds.items():
            out[name] = run_build(name, build, libs, capdir, workdir, args.jobs)
        out["seconds"] = round(time.monotonic() - t0, 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
