"""What authentication costs: sustained OTLP ingest with auth off (open loopback server) and on (every
request carries a key), measured in one run with bench/ingest.py's machinery, plus the per-request cost of
``authenticate`` + ``require`` in-process and of a tiny authenticated request over HTTP. One JSON line.

    python bench/auth.py [--seconds 15] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import drive, make_bodies  # noqa: E402
from tests.support import ServerProcess  # noqa: E402


def make_key(data: Path) -> str:
    r = subprocess.run([sys.executable, "-m", "tokentrail.cli.main", "keys", "create", "--project", "*",
                        "--scope", "admin", "--data-dir", str(data)], capture_output=True, text=True, check=True)
    return r.stdout.strip()


def tiny_requests(url: str, headers: dict[str, str], n: int = 2000) -> float:
    """Mean microseconds of a tiny authenticated write (an empty native batch), keep-alive, one client."""
    with httpx.Client(base_url=url, headers={"content-type": "application/json", **headers}) as c:
        for _ in range(100):
            c.post("/api/ingest/batch", content=b"[]")
        t = time.perf_counter()
        for _ in range(n):
            assert c.post("/api/ingest/batch", content=b"[]").status_code == 200
        return (time.perf_counter() - t) / n * 1e6


def ingest(data: Path, bodies: list[bytes], spans_per_body: int, args: argparse.Namespace,
           key: str | None) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    server = ServerProcess(data).start()
    try:
        t0 = time.monotonic()
        acked, busy, _ = asyncio.run(drive(server.url, bodies, args.clients, args.seconds, headers))
        httpx.post(server.url + "/api/admin/flush", params={"timeout": 300}, headers=headers,
                   timeout=400).raise_for_status()
        t_done = time.monotonic()
        tiny = tiny_requests(server.url, headers)
    finally:
        server.stop()
    return {"spans_per_s": round(acked * spans_per_body / (t_done - t0)), "busy_503": busy,
            "tiny_request_us": round(tiny, 1)}


def in_process(n: int = 200_000) -> dict[str, float]:
    """authenticate + require per request, on the objects the server uses (no network)."""
    from types import SimpleNamespace

    from starlette.requests import Request

    from tokentrail.auth.keys import ApiKey, KeyCache, hash_key
    from tokentrail.config import Settings
    from tokentrail.server import auth
    from tokentrail.storage.backend import open_store
    from tokentrail.storage.migrations import migrate

    raw = "tt_" + "x" * 43
    cache = KeyCache.__new__(KeyCache)  # the cache without a store: a map of 1,000 keys
    cache.any_made = True
    cache.by_hash = {}
    for i in range(1000):
        k = raw if i == 0 else f"tt_{i:043d}"
        cache.by_hash[hash_key(k)] = ApiKey(
            key_id=str(i), prefix=k[:11], hash=hash_key(k), project="alpha", scopes=frozenset({"ingest"}), name="",
            created_at=auth_time(), expires_at=never(), revoked_at=never(), created_by="bench")
    store = open_store(f"chdb://{tempfile.mkdtemp()}/db")  # an empty store: no UI account either
    migrate(store)
    runtime = SimpleNamespace(keys=cache, settings=Settings.load(), store=store)
    app = SimpleNamespace(state=SimpleNamespace(runtime=runtime))

    def scope(headers: list[tuple[bytes, bytes]]) -> dict:
        return {"type": "http", "method": "POST", "path": "/v1/traces", "query_string": b"", "headers": headers,
                "app": app}

    out = {}
    for name, headers, open_mode in (("open_mode", [], True), ("bearer_key", [(b"authorization", f"Bearer {raw}".encode())], False)):
        cache.any_made = not open_mode
        t = time.perf_counter()
        for _ in range(n):
            auth.require(Request(scope(list(headers))), "ingest")
        out[f"{name}_us"] = round((time.perf_counter() - t) / n * 1e6, 2)
    store.close()
    return out


def auth_time():  # noqa: ANN201
    from datetime import UTC, datetime

    return datetime.now(UTC)


def never():  # noqa: ANN201
    from tokentrail.auth.keys import NEVER

    return NEVER


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    bodies, spans_per_body = make_bodies(120, 512)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label in ("off", "on", "off_again", "on_again"):  # interleaved: drift of the machine shows
            data = Path(tmp) / label
            data.mkdir()
            key = make_key(data) if label.startswith("on") else None
            results[label] = ingest(data, bodies, spans_per_body, args, key)
    off = (results["off"]["spans_per_s"] + results["off_again"]["spans_per_s"]) / 2
    on = (results["on"]["spans_per_s"] + results["on_again"]["spans_per_s"]) / 2
    tiny_off = (results["off"]["tiny_request_us"] + results["off_again"]["tiny_request_us"]) / 2
    tiny_on = (results["on"]["tiny_request_us"] + results["on_again"]["tiny_request_us"]) / 2
    print(json.dumps({
        "bench": "auth", "clients": args.clients, "seconds": args.seconds, "spans_per_request": spans_per_body,
        "ingest_spans_per_s_auth_off": round(off), "ingest_spans_per_s_auth_on": round(on),
        "ingest_ratio_on_off": round(on / off, 3), "runs": results,
        "tiny_request_us_auth_off": round(tiny_off, 1), "tiny_request_us_auth_on": round(tiny_on, 1),
        "in_process_require_us": in_process(),
    }))


if __name__ == "__main__":
    main()
