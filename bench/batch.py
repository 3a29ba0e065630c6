"""Batch loading, end to end: `tokentrail ingest` run on seed-shaped JSON-lines files until
every row is queryable, rollups included. Prints one JSON line.

    python bench/batch.py [--quick] [--rows 1000000] [--files 8] [--server] [--inproc]
                          [--plain | --gzip] [--lf] [--bad-per-file 3] [--chunk-mb 128]

The default set is the mixed one: ROWS good events over FILES files of one directory, every
other file gzip-compressed, CRLF line ends, and BAD_PER_FILE bad lines per file (not JSON,
cut short, a negative count) among the good ones. The run must load every good row and
report every bad line (the bench checks both, and the dead-letter file's line numbers).

By default the clock covers a real `tokentrail ingest DIR --json` subprocess: interpreter
start, imports, opening the store (created and migrated beforehand, as a used store is),
loading, and the rollup refresh at the end; `rows_per_s` = good rows / that wall time.
VmHWM is the peak RSS of the process that holds the store (the ingest process, or the
server with --server, where ingest sends its chunks to a running `tokentrail serve`).
`stages` is the run's own split (the --json summary's ``stages``): seconds spent reading
(waiting for the file reader: decompression, line splitting), loading (the engine's parse,
mapping and INSERT, the manifest) and refreshing rollups. --inproc runs the Runner in
this process instead (for profilers); --quick is a short run for the bench runner.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import ServerProcess  # noqa: E402

ROUTES = ["support-chat", "classify-intent", "summarize-ticket", "code-review", "search-embed", "sql-assistant"]
MODELS = ["gpt-4o-mini-2024-07-18", "gpt-4o", "claude-sonnet-4", "claude-3-5-haiku", "o4-mini", "mystery-model"]
STATUSES = ["200"] * 95 + ["429", "500", "timeout", "cancelled", "200"]
BAD_LINES = [  # what a dead letter gets: not JSON, a line cut short, a count the model refuses
    "this is not json",
    '{"timestamp":"2026-11-24T01:02:03.000Z","request_id":"cut_',
    '{"timestamp":"2026-11-24T01:02:03.000Z","request_id":"bad_{n}","model":"gpt-4o","input_tokens":-5}',
]


def make_files(path: Path, rows: int, files: int, gzip_mode: str, crlf: bool, bad_per_file: int) -> tuple[int, list]:
    """Seed-style events over one day in ``files`` files; returns (bytes on disk, [(file, bad line no)])."""
    path.mkdir()
    per = -(-rows // files)
    size, bad = 0, []
    for k in range(files):
        compress = gzip_mode == "gzip" or (gzip_mode == "mixed" and k % 2 == 1)
        name = path / f"events-{k:05d}.jsonl{'.gz' if compress else ''}"
        numbers = range(k * per, min(rows, (k + 1) * per))
        size += _write(name, numbers, rows, compress, crlf, bad_per_file, random.Random(k), bad)
    return size, bad


def _write(path: Path, numbers: range, rows: int, compress: bool, crlf: bool, n_bad: int, rnd: random.Random,
           bad: list) -> int:
    day = 1_795_564_800  # 2026-11-24T00:00:00Z
    end = "\r\n" if crlf else "\n"
    bad_at = set(rnd.sample(range(len(numbers)), min(n_bad, len(numbers))))
    lines = []
    for j, i in enumerate(numbers):
        if j in bad_at:
            lines.append(BAD_LINES[len(bad) % len(BAD_LINES)].replace("{n}", str(i)))
            bad.append((str(path), len(lines)))
        t = day + i * 86400 / rows
        lines.append(json.dumps({
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z",
            "request_id": f"req_{i:09d}", "service": "support-assistant", "route": rnd.choice(ROUTES),
            "user_id_hash": f"h_{rnd.randrange(5000):08x}", "model": rnd.choice(MODELS),
            "input_tokens": rnd.randrange(50, 5000), "output_tokens": rnd.randrange(1, 900),
            "latency_total_ms": rnd.randrange(100, 9000), "latency_to_first_token_ms": rnd.randrange(50, 900),
            "cached": rnd.random() < 0.1, "downstream_status": rnd.choice(STATUSES),
            "schema_validated": rnd.random() < 0.95}, separators=(",", ":")))
    data = (end.join(lines) + end).encode()
    if compress:
        data = gzip.compress(data, compresslevel=6)
    path.write_bytes(data)
    return len(data)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def prepare_store(data: Path) -> None:
    """A migrated store with prices, as any used one is (not part of the timed run)."""
    code = ("import sys; from tokentrail.storage.backend import open_store; from tokentrail.storage.migrations "
            "import migrate; from tokentrail.pricing import PriceBook; from tokentrail.pricing.store import "
            "sync_prices; s = open_store(sys.argv[1]); migrate(s); sync_prices(s, PriceBook(None)); s.close()")
    subprocess.run([sys.executable, "-c", code, f"chdb://{data / 'db'}"], check=True)


def run_cli(src: Path, data: Path, dead: Path, chunk_mb: float, url: str | None) -> tuple[dict, float, float]:
    cmd = [sys.executable, "-m", "tokentrail.cli.main", "ingest", str(src), "--json", "--progress", "none",
           "--project", "bench", "--dead-letter", str(dead), "--chunk-mb", str(chunk_mb)]
    cmd += ["--url", url] if url else ["--data-dir", str(data), "--storage-url", f"chdb://{data / 'db'}"]
    env = {k: v for k, v in os.environ.items() if k != "TOKENTRAIL_URL"}
    t0 = time.monotonic()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    seconds = time.monotonic() - t0
    hwm = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child so far: ingest
    return json.loads(out.stdout.strip().splitlines()[-1]), seconds, round(hwm, 1)


def run_inproc(src: Path, data: Path, dead: Path, chunk_mb: float) -> tuple[dict, float, float]:
    from tokentrail.batch.run import DeadLetter, Runner
    from tokentrail.batch.targets import LocalTarget
    from tokentrail.pricing import PriceBook
    from tokentrail.storage.backend import open_store

    t0 = time.monotonic()
    store = open_store(f"chdb://{data / 'db'}")
    try:
        target = LocalTarget(store, PriceBook(None).version, "local")
        summary = Runner(target, "bench", DeadLetter(dead), chunk_bytes=int(chunk_mb * (1 << 20))).run([str(src)])
    finally:
        store.close()
    return summary.to_dict(), time.monotonic() - t0, peak_rss_mb(os.getpid())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="200,000 rows in 4 files")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--files", type=int, default=None)
    ap.add_argument("--chunk-mb", type=float, default=128.0)  # the CLI default
    ap.add_argument("--gzip", dest="compress", action="store_const", const="gzip", default="mixed")
    ap.add_argument("--plain", dest="compress", action="store_const", const="plain")
    ap.add_argument("--lf", action="store_true", help="LF line ends instead of CRLF")
    ap.add_argument("--bad-per-file", type=int, default=3)
    ap.add_argument("--server", action="store_true")
    ap.add_argument("--inproc", action="store_true")
    ap.add_argument("--tmp", default=None, help="where the files and the store go (default: a temp dir)")
    args = ap.parse_args()
    rows = args.rows or (200_000 if args.quick else 1_000_000)
    files = args.files or (4 if args.quick else 8)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        src, data, dead = Path(tmp) / "events", Path(tmp) / "data", Path(tmp) / "dead.jsonl"
        size, bad = make_files(src, rows, files, args.compress, not args.lf, args.bad_per_file)
        data.mkdir()
        server = None
        hwm_server = None
        if args.server:
            server = ServerProcess(data).start()
        else:
            prepare_store(data)
        try:
            if args.inproc and not args.server:
                summary, seconds, hwm = run_inproc(src, data, dead, args.chunk_mb)
            else:
                summary, seconds, hwm = run_cli(src, data, dead, args.chunk_mb, server.url if server else None)
            if server is not None:
                hwm_server = peak_rss_mb(server.proc.pid)  # type: ignore[union-attr]
        finally:
            if server is not None:
                server.stop()
        dead_lines = [json.loads(x) for x in dead.read_text().splitlines()] if dead.exists() else []
    assert summary["rows"] == rows and summary["rejected"] == len(bad), (summary, len(bad))
    assert sorted((d["file"], d["line"]) for d in dead_lines) == sorted(bad), "dead letters at the wrong lines"
    stages = summary.get("stages")
    print(json.dumps({
        "bench": "batch", "rows": summary["rows"], "rejected": summary["rejected"], "files": files,
        "compression": args.compress, "crlf": not args.lf, "disk_mb": round(size / 2**20, 1),
        "through_server": args.server, "in_process": args.inproc and not args.server, "chunk_mb": args.chunk_mb,
        "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds),
        "run_seconds": summary["seconds"], "run_rows_per_s": summary["rows_per_s"],
        "stages": {k: round(v, 2) for k, v in stages.items()} if stages else None,
        "vmhwm_mb": hwm_server if args.server else hwm, "vmhwm_ingest_mb": hwm,
        "cost_added": round(summary["cost"], 2), "unpriced": summary["unpriced"],
    }))


if __name__ == "__main__":
    main()
