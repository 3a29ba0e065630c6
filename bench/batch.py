"""Batch loading: rows/s for a file of flat JSON events (the seeds' per-request log lines),
loaded by `tokentrail ingest`'s code into a fresh embedded store. Prints one JSON line.

    python bench/batch.py [--rows 1000000] [--chunk-mb 128] [--gzip] [--files 1] [--server]

rows_per_s counts rows that are in the store, priced, with their manifest row, and in the
rollups when the clock stops (a local run refreshes rollups at its end); load_rows_per_s
stops the clock when the last chunk is acknowledged, before that refresh. cpu_us_per_row
is the process's CPU time (engine threads included) per row; on a shared machine it is
steadier than the wall clock. --server loads through a running
`tokentrail serve` (a subprocess), as ingest does while the server owns the store.
--files N writes the same rows as N files of a directory (the SDK's many small files).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import ServerProcess  # noqa: E402
from tokentrail.batch.run import DeadLetter, Runner  # noqa: E402
from tokentrail.batch.targets import LocalTarget, ServerTarget  # noqa: E402
from tokentrail.pricing import PriceBook  # noqa: E402
from tokentrail.pricing.store import sync_prices  # noqa: E402
from tokentrail.storage.backend import open_store  # noqa: E402
from tokentrail.storage.migrations import migrate  # noqa: E402

ROUTES = ["support-chat", "classify-intent", "summarize-ticket", "code-review", "search-embed", "sql-assistant"]
MODELS = ["gpt-4o-mini-2024-07-18", "gpt-4o", "claude-sonnet-4", "claude-3-5-haiku", "o4-mini", "mystery-model"]


def make_file(path: Path, rows: int, compress: bool, files: int = 1) -> int:
    """Seed-style events over one day, one per line; ``files`` > 1: a directory of that many files."""
    if files > 1:
        path.mkdir()
        per = -(-rows // files)
        return sum(_write(path / f"events-{k:05d}.jsonl{'.gz' if compress else ''}", range(k * per, min(rows, (k + 1) * per)),
                          rows, compress, random.Random(k)) for k in range(files))
    return _write(path, range(rows), rows, compress, random.Random(7))


def _write(path: Path, numbers: range, rows: int, compress: bool, rnd: random.Random) -> int:
    day = 1_795_564_800  # 2026-11-24T00:00:00Z
    out = gzip.open(path, "wt") if compress else open(path, "w")
    with out:
        for i in numbers:
            t = day + i * 86400 / rows
            event = {
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z",
                "request_id": f"req_{i:09d}", "service": "support-assistant", "route": rnd.choice(ROUTES),
                "user_id_hash": f"h_{rnd.randrange(5000):08x}", "model": rnd.choice(MODELS),
                "input_tokens": rnd.randrange(50, 5000), "output_tokens": rnd.randrange(1, 900),
                "latency_total_ms": rnd.randrange(100, 9000), "latency_to_first_token_ms": rnd.randrange(50, 900),
                "cached": rnd.random() < 0.1, "downstream_status": "200" if rnd.random() < 0.97 else "429",
                "schema_validated": rnd.random() < 0.95}
            out.write(json.dumps(event, separators=(",", ":")) + "\n")
    return path.stat().st_size


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--chunk-mb", type=float, default=128.0)  # the CLI default
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--server", action="store_true")
    ap.add_argument("--files", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("events" if args.files > 1 else "events.jsonl.gz" if args.gzip else "events.jsonl")
        size = make_file(path, args.rows, args.gzip, args.files)
        data = Path(tmp) / "data"
        data.mkdir()
        server = store = None
        if args.server:
            server = ServerProcess(data).start()
            target = ServerTarget(server.url)
        else:
            store = open_store(f"chdb://{data / 'db'}")
            migrate(store)
            book = PriceBook(None)
            sync_prices(store, book)
            target = LocalTarget(store, book.version, "local")
        loaded_at = []
        finish = target.finish

        def timed_finish() -> None:  # the run's end: rollups (local), after the last chunk was acknowledged
            loaded_at.append((time.monotonic(), cpu_seconds()))
            finish()

        target.finish = timed_finish  # type: ignore[method-assign]
        try:
            runner = Runner(target, "bench", DeadLetter(Path(tmp) / "dead.jsonl"),
                            chunk_bytes=int(args.chunk_mb * (1 << 20)))
            c0, t0 = cpu_seconds(), time.monotonic()
            summary = runner.run([str(path)])
            seconds, cpu = time.monotonic() - t0, cpu_seconds() - c0
            load_seconds, load_cpu = loaded_at[0][0] - t0, loaded_at[0][1] - c0
        finally:
            if store is not None:
                store.close()
            if server is not None:
                server.stop()
    assert summary.rows == args.rows and summary.rejected == 0, summary
    print(json.dumps({
        "bench": "batch", "rows": summary.rows, "file_mb": round(size / 2**20, 1),
        "bytes_per_row": round(size / args.rows), "gzip": args.gzip, "files": args.files,
        "through_server": args.server,
        "chunk_mb": args.chunk_mb, "seconds": round(seconds, 2), "rows_per_s": round(summary.rows / seconds),
        "load_rows_per_s": round(summary.rows / load_seconds),
        "cpu_us_per_row": None if args.server else round(cpu / summary.rows * 1e6, 2),
        "load_cpu_us_per_row": None if args.server else round(load_cpu / summary.rows * 1e6, 2),
        "cost_added": round(summary.cost, 2), "unpriced": summary.unpriced,
    }))


if __name__ == "__main__":
    main()
