"""A load killed in the middle of a large file, then run again: every row exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.batch.helpers import events, write_lines
from tests.support import ServerProcess, free_port
from tokentrail.storage.backend import open_store

ROWS = 40_000


def _ingest(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tokentrail.cli.main", "ingest", *args, "--chunk-mb", "1",
                             "--progress", "lines"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _after_chunks(proc: subprocess.Popen[bytes], n: int) -> None:
    """Return once the loader has acknowledged ``n`` chunks (it prints a line for each)."""
    seen = 0
    assert proc.stderr is not None
    for line in proc.stderr:
        seen += line.startswith(b"chunk ")
        if seen == n:
            return
    raise AssertionError(f"the loader ended after {seen} chunks")


def _finish(*args: str) -> dict:
    proc = _ingest(*args, "--json")
    out, errors = proc.communicate(timeout=300)
    assert proc.returncode == 0, errors.decode()
    return json.loads(out)


def _counts(data: Path) -> tuple[int, int, int]:
    """Rows (deduplicated), distinct ids, and calls counted by the minute rollups."""
    store = open_store(f"chdb://{data / 'db'}")
    try:
        row = store.query("SELECT count() AS final, (SELECT uniqExact(trace_id, span_id) FROM tokentrail.spans) AS ids, "
                          "(SELECT sum(requests) FROM tokentrail.rollup_minute FINAL) AS rolled "
                          "FROM tokentrail.spans FINAL")[0]
        return row["final"], row["ids"], row["rolled"]
    finally:
        store.close()


def test_a_load_killed_mid_file_resumes_and_loads_every_row_once(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "big.jsonl", events(ROWS, "kill"))
    data, port = tmp_path / "data", str(free_port())
    proc = _ingest(str(path), "--data-dir", str(data), "--port", port)
    _after_chunks(proc, 3)
    proc.send_signal(signal.SIGKILL)  # in the middle of the 4th chunk, or between two
    proc.wait(30)
    summary = _finish(str(path), "--data-dir", str(data), "--port", port)
    assert summary["resumed"] == 1 and 0 < summary["rows"] < ROWS
    assert _counts(data) == (ROWS, ROWS, ROWS)  # the rollups count the rows of the killed run too


def test_a_server_killed_mid_load_loses_nothing_after_a_rerun(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "big.jsonl", events(ROWS, "srv"))
    data = tmp_path / "data"
    data.mkdir()
    server = ServerProcess(data).start()
    proc = _ingest(str(path), "--url", server.url)
    _after_chunks(proc, 3)
    server.kill()
    proc.communicate(timeout=120)
    server = ServerProcess(data, port=server.port).start()
    try:
        summary = _finish(str(path), "--url", server.url)
        assert summary["target"] == server.url and summary["resumed"] == 1
    finally:
        server.stop()
    assert _counts(data)[:2] == (ROWS, ROWS)
