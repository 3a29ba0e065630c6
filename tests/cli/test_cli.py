"""The CLI reaches the data through a running server, or opens the store itself, or says why not."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support import ServerProcess, free_port


def tt(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "tokentrail.cli.main", *args], capture_output=True, text=True,
                       timeout=300)
    if check:
        assert r.returncode == 0, r.stderr + r.stdout
    return r


def test_demo_then_stats_through_the_running_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = ServerProcess(data).start()
    try:
        port = str(server.port)
        out = tt("demo", "--port", port, "--traces", "600", "--days", "0.5").stdout
        assert "sent" in out
        doc = json.loads(tt("stats", "--port", port, "--json").stdout)
        routes = {r["route"] for r in doc["routes"]}
        assert {"support-chat", "classify-intent"} <= routes
        assert doc["totals"]["requests"] > 500
        table = tt("stats", "--port", port).stdout
        assert "support-chat" in table and "p99" in table
        # the data directory is owned by the server: a direct open is refused with a clear message
        r = tt("stats", "--data-dir", str(data), "--port", str(free_port()), check=False)
        assert r.returncode != 0
        assert "in use by another process" in r.stderr and "Traceback" not in r.stderr
    finally:
        server.stop()
    # with the server stopped the command opens the store itself
    doc = json.loads(tt("stats", "--data-dir", str(data), "--port", str(free_port()), "--json").stdout)
    assert doc["totals"]["requests"] > 500


def test_demo_without_a_server_says_so(tmp_path: Path) -> None:
    r = tt("demo", "--port", str(free_port()), check=False)
    assert r.returncode != 0 and "no tokentrail server" in r.stderr


def test_recompute_costs_on_a_stopped_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    calls = tmp_path / "calls.jsonl"
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    calls.write_text(json.dumps({"timestamp": when, "model": "gpt-4o-mini", "input_tokens": 1000,
                                 "output_tokens": 10}) + "\n")
    port = str(free_port())
    tt("ingest", str(calls), "--data-dir", str(data), "--port", port)  # makes the store
    out = tt("recompute-costs", "--since", "2026-01-01", "--data-dir", str(data), "--port", port).stdout
    assert "price_version" in out


def test_serve_refuses_bad_langfuse_keys(tmp_path: Path) -> None:
    r = tt("serve", "--data-dir", str(tmp_path), "--port", "0", "--langfuse-keys", "pk-lf-1=shop", check=False)
    assert r.returncode != 0
    assert "bad langfuse_keys setting" in r.stderr and "PUBLIC_KEY:SECRET_KEY=PROJECT" in r.stderr
    assert "Traceback" not in r.stderr
