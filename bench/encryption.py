"""Content encryption costs, in ONE run on one store. Prints one JSON line.

    python bench/encryption.py [--spans 100000] [--rounds 3] [--search-rows 1000000]

* ingest: the bulk INSERT of spooled OTLP (512 content-bearing spans per request, ~1 KB of prompt and
  response each) with content encryption on and off, alternating rounds on the same store: spans/s of
  the insert stage (decoding and the HTTP side are the same either way, and not measured here);
* read: ms per trace detail read (5 spans with content each), rows encrypted vs plain;
* rotate: rows/s of ``rotate-content`` (decrypt, encrypt, re-index, write, merge) after adding a key;
* search: ms per ``/api/search``-equivalent query over ``--search-rows`` content rows (a rare word, two
  words, a common word).
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import KeyValue  # noqa: E402

from tokentrail.ingest import wire  # noqa: E402
from tokentrail.ingest.inserter import Inserter  # noqa: E402
from tokentrail.ingest.spool import Spool  # noqa: E402
from tokentrail.pricing import PriceBook  # noqa: E402
from tokentrail.pricing.store import sync_prices  # noqa: E402
from tokentrail.privacy import content_keys, encryption, rotation, search  # noqa: E402
from tokentrail.query import traces  # noqa: E402
from tokentrail.storage.backend import open_store  # noqa: E402
from tokentrail.storage.migrations import migrate  # noqa: E402

WORDS = ("weather paris invoice refund order shipping account password reset billing plan upgrade error "
         "latency model token price customer support ticket answer question summary translate french "
         "german email draft meeting agenda notes budget forecast quarter revenue churn").split()


def _kv(key: str, value: str | int) -> KeyValue:
    kv = KeyValue(key=key)
    if isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = value
    return kv


def _text(rnd: random.Random, n: int) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(n)) + f" ref {rnd.randrange(10**6)}"


def make_requests(n_spans: int, per_request: int, project: str, seed: int, spans_per_trace: int = 5) -> list[bytes]:
    rnd = random.Random(seed)
    now_ns = time.time_ns()
    out = []
    for start in range(0, n_spans, per_request):
        req = ExportTraceServiceRequest()
        ss = req.resource_spans.add().scope_spans.add()
        trace_id = b""
        for i in range(start, min(start + per_request, n_spans)):
            if i % spans_per_trace == 0:
                trace_id = secrets.token_bytes(16)
            sp = ss.spans.add(trace_id=trace_id, span_id=secrets.token_bytes(8), name="chat gpt-4o-mini",
                              start_time_unix_nano=now_ns - 60_000_000_000 + i * 1000,
                              end_time_unix_nano=now_ns - 59_000_000_000 + i * 1000)
            sp.attributes.extend([
                _kv("gen_ai.operation.name", "chat"), _kv("gen_ai.system", "openai"),
                _kv("gen_ai.request.model", "gpt-4o-mini"), _kv("gen_ai.usage.input_tokens", 120),
                _kv("gen_ai.usage.output_tokens", 80), _kv("tokentrail.user_id", f"u{i % 997}"),
                _kv("tokentrail.input", _text(rnd, 90)), _kv("tokentrail.output", _text(rnd, 60)),
                _kv("tokentrail.capture_reason", "sampled")])
        out.append(wire.envelope(req.SerializeToString(), project, "otlp", now_ns))
    return out


def ingest_round(inserter: Inserter, spool: Spool, records: list[bytes]) -> float:
    for r in records:
        spool.append(r)
    t0 = time.perf_counter()
    assert inserter.flush(600)
    return time.perf_counter() - t0


def read_ms(store, project: str, ids: list[str]) -> float:
    t0 = time.perf_counter()
    for t in ids:
        doc = traces.detail(store, project, t, with_content=True)
        assert doc and doc["content"]
    return (time.perf_counter() - t0) * 1000 / len(ids)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--search-rows", type=int, default=1_000_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tt-enc-"))
    store = open_store(f"chdb://{tmp / 'db'}")
    migrate(store, {})
    prices = PriceBook(None)
    sync_prices(store, prices, prune=True)
    ring = content_keys.load("", tmp)
    spool = Spool(tmp / "spool", fsync=False, segment_age=0.01)
    inserter = Inserter(store, spool, price_version=lambda: prices.version)
    per_request = 512
    times: dict[str, list[float]] = {"on": [], "off": []}
    for r in range(args.rounds):
        for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
            encryption.configure(ring if mode == "on" else None)
            records = make_requests(args.spans, per_request, f"bench-{mode}", seed=r)
            times[mode].append(ingest_round(inserter, spool, records))
    ingest = {m: round(args.spans / (sum(ts) / len(ts))) for m, ts in times.items()}

    # reads: trace detail with content, encrypted rows vs plain ones
    reads = {}
    for mode in ("on", "off"):
        encryption.configure(ring)
        ids = [r["trace_id"] for r in store.query(
            "SELECT DISTINCT trace_id FROM tokentrail.contents WHERE project = {p:String} LIMIT 200",
            {"p": f"bench-{mode}"})]
        read_ms(store, f"bench-{mode}", ids[:20])  # warm
        reads[mode] = round(read_ms(store, f"bench-{mode}", ids), 3)

    # rotate-content: everything under a new key
    ring2 = content_keys.add_key(ring)
    encryption.configure(ring2)
    rot = rotation.rotate(store, ring2)
    rotate_rows_s = round(rot["rows"] / rot["seconds"]) if rot["seconds"] else None

    # search over N content rows, written by the engine with the same expressions as ingest
    n = args.search_rows
    cols = encryption.insert_columns("s")
    sql = f"""
        INSERT INTO tokentrail.contents (project, trace_id, span_id, start_time, key_id, input, output,
                                         search_tokens, captured_reason, ingested_at)
        SELECT 'bench-search', trace_id, span_id, start_time, {cols['key_id']}, {cols['input']}, {cols['output']},
               {cols['search_tokens']}, 'sampled', now64(3)
        FROM (SELECT lower(hex(cityHash64(number, 1))) || lower(hex(cityHash64(number, 2))) AS trace_id,
                     lower(hex(cityHash64(number, 3))) AS span_id,
                     now64(6) - toIntervalSecond(number % 86400) AS start_time,
                     concat(arrayStringConcat(arrayMap(i -> ['{"','".join(WORDS)}'][1 + (cityHash64(number, i) % {len(WORDS)})],
                                              range(80)), ' '), ' ref ', toString(number)) AS input,
                     'the answer is short' AS output
              FROM numbers({n})) AS s"""
    t0 = time.perf_counter()
    store.command(encryption.bind(sql, datetime.now(UTC)))
    write_s = time.perf_counter() - t0
    now = datetime.now(UTC)
    lat = {}
    for name, q in (("rare_word", "ref 424242"), ("two_words", "refund paris"), ("common_word", "weather")):
        best = []
        for _ in range(3):
            t0 = time.perf_counter()
            found = search.search(store, ring2, "bench-search", q, now - timedelta(days=2), now + timedelta(hours=1))
            best.append((time.perf_counter() - t0) * 1000)
        lat[name] = {"ms": round(min(best), 1), "matched_traces": found["matched"]}
    print(json.dumps({
        "bench": "encryption", "spans_per_round": args.spans, "rounds": args.rounds,
        "ingest_spans_per_s": {"encryption_on": ingest["on"], "encryption_off": ingest["off"],
                               "cost_pct": round(100 * (ingest["off"] - ingest["on"]) / ingest["off"], 1)},
        "trace_read_ms": {"encrypted": reads["on"], "plain_rows": reads["off"]},
        "rotate_content": {"rows": rot["rows"], "seconds": rot["seconds"], "rows_per_s": rotate_rows_s},
        "search": {"content_rows": n, "write_rows_per_s": round(n / write_s), "latency": lat},
    }))
    store.close()


if __name__ == "__main__":
    main()
