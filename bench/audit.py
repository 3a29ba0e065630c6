"""What the audit log and the sign-in cost: ``audit.record`` per call (the caller's side: a buffered
append), rows per second written to the embedded store by the flusher, a trace-detail read with and
without its content.read row (over HTTP), and one scrypt password check. One JSON line.

    python bench/audit.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import running_server  # noqa: E402
from tokentrail import audit  # noqa: E402
from tokentrail.auth import accounts  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    args = ap.parse_args()
    out: dict[str, object] = {"bench": "audit"}
    with running_server(Path(tempfile.mkdtemp()) / "data") as server:
        store = server.runtime.store
        started = time.perf_counter()
        for i in range(args.rows):
            audit.record(store, actor="user:bench", action="content.read", project="bench", target=f"{i:032x}",
                         detail="trace: 3 spans with content", ip="127.0.0.1", user_agent="bench")
        spent = time.perf_counter() - started
        out["record_us_per_call"] = round(spent / args.rows * 1e6, 3)
        audit.flush(store)
        written = time.perf_counter() - started
        n = store.query("SELECT count() AS n FROM tokentrail.audit_log WHERE actor = 'user:bench'")[0]["n"]
        out.update(rows_recorded=args.rows, rows_stored=n, dropped=audit.dropped(store),
                   stored_rows_per_s=round(n / written))
        trace_id = uuid.uuid4().hex
        item = {"trace_id": trace_id, "span_id": trace_id[:16], "model": "gpt-4o-mini", "input_tokens": 5,
                "input": "hello", "output": "world"}
        server.client.post("/api/ingest/batch", json=[item], headers={"x-tokentrail-project": "bench"})
        server.flush()

        def timed(n: int) -> float:
            times = []
            for _ in range(n):
                t = time.perf_counter()
                server.client.get(f"/api/traces/{trace_id}", params={"project": "bench"}).raise_for_status()
                times.append(time.perf_counter() - t)
            return statistics.median(times) * 1000

        out["trace_detail_ms_median_with_audit"] = round(timed(300), 3)
        real = audit.record_request
        audit.record_request = lambda *a, **k: None  # type: ignore[assignment]
        try:
            out["trace_detail_ms_median_without_audit"] = round(timed(300), 3)
        finally:
            audit.record_request = real  # type: ignore[assignment]
    stored = accounts.hash_password("a long enough password")
    t = time.perf_counter()
    for _ in range(20):
        accounts.verify_password("a long enough password", stored)
    out["scrypt_check_ms"] = round((time.perf_counter() - t) / 20 * 1000, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
