"""What PII redaction costs. One JSON line:

* the rule set alone on the PII corpus (tests/privacy/corpus): texts/s and MB/s;
* the server's walker (redaction + capture policy) on realistic spans, in process: spans/s;
* sustained OTLP ingest (bench/ingest.py's machinery: 512-span requests, 8 clients, counted when
  acknowledged AND inserted) with redaction off and on, alternating in one run (off, on, off, on).
  The spans are bench/ingest.py's demo traffic with the corpus texts as the captured prompts.

    python bench/redaction.py [--seconds 15] [--clients 8] [--rounds 2] [--content corpus|demo]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import drive, make_bodies  # noqa: E402
from tests.support import ServerProcess  # noqa: E402
from tokentrail.privacy.policy import Policy  # noqa: E402
from tokentrail.privacy.redact import default  # noqa: E402
from tokentrail.privacy.walk import Scrubber  # noqa: E402

CORPUS = [json.loads(line)["text"] for line in (ROOT / "tests/privacy/corpus/corpus.jsonl").read_text().splitlines()]


def with_corpus(bodies: list[bytes]) -> list[bytes]:
    """The demo requests with the corpus texts as their captured prompts (and replies)."""
    out, k = [], 0
    for body in bodies:
        req = ExportTraceServiceRequest.FromString(body)
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    for kv in sp.attributes:
                        if kv.key in ("tokentrail.input", "tokentrail.output"):
                            kv.value.string_value = CORPUS[k % len(CORPUS)]
                            k += 1
        out.append(req.SerializeToString())
    return out


def rules_alone() -> dict[str, float]:
    redactor = default()
    for text in CORPUS:  # warm the compiled patterns
        redactor.redact(text)
    n, size = 0, 0
    t = time.perf_counter()
    while time.perf_counter() - t < 3:
        for text in CORPUS:
            redactor.redact(text + " ")  # a fresh string each round: no memo hit
            size += len(text.encode())
        n += len(CORPUS)
    dt = time.perf_counter() - t
    return {"texts_per_s": round(n / dt), "mb_per_s": round(size / dt / 1e6, 2),
            "mean_text_bytes": round(size / n)}


def walker(bodies: list[bytes], spans_per_body: int) -> dict[str, float]:
    reqs = [ExportTraceServiceRequest.FromString(b) for b in bodies]
    Scrubber(default(), Policy()).request(ExportTraceServiceRequest.FromString(bodies[0]))
    t = time.perf_counter()
    for req in reqs:
        Scrubber(default(), Policy()).request(req)
    dt = time.perf_counter() - t
    parse = time.perf_counter()
    for b in bodies:
        ExportTraceServiceRequest.FromString(b).SerializeToString()
    parse_dt = time.perf_counter() - parse
    spans = len(reqs) * spans_per_body
    return {"walker_spans_per_s": round(spans / dt), "walker_us_per_span": round(dt / spans * 1e6, 2),
            "parse_and_encode_us_per_span": round(parse_dt / spans * 1e6, 2)}


def ingest(bodies: list[bytes], spans_per_body: int, args: argparse.Namespace, redact: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        server = ServerProcess(data, extra=["--redact", redact]).start()
        try:
            t0 = time.monotonic()
            acked, busy, _ = asyncio.run(drive(server.url, bodies, args.clients, args.seconds))
            t_acked = time.monotonic()
            httpx.post(server.url + "/api/admin/flush", params={"timeout": 300}, timeout=400).raise_for_status()
            t_done = time.monotonic()
            redacted = httpx.get(server.url + "/api/quality", params={"range": "1d"}).json().get("redactions", [])
        finally:
            server.stop()
    spans = acked * spans_per_body
    return {"spans_per_s": round(spans / (t_done - t0)), "spans_per_s_acked": round(spans / (t_acked - t0)),
            "busy_503": busy, "redacted_values": sum(r["values"] for r in redacted)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--content", choices=("corpus", "demo"), default="corpus",
                    help="captured prompts: the PII corpus texts (every one holds PII) or the demo's own")
    args = ap.parse_args()
    bodies, spans_per_body = make_bodies(120, 512)
    if args.content == "corpus":
        bodies = with_corpus(bodies)
    out: dict[str, object] = {"bench": "redaction", "content": args.content, "corpus_texts": len(CORPUS), "rules": rules_alone(),
                              **walker(bodies, spans_per_body)}
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            runs[mode].append(ingest(bodies, spans_per_body, args, mode))
    for mode, results in runs.items():
        out[f"ingest_redaction_{mode}_spans_per_s"] = round(statistics.median(r["spans_per_s"] for r in results))
        out[f"ingest_redaction_{mode}_runs"] = results
    out["clients"], out["spans_per_request"], out["seconds_per_run"] = args.clients, spans_per_body, args.seconds
    print(json.dumps(out))


if __name__ == "__main__":
    main()
