"""While the server owns the store, ingest sends chunks to it; the chunk API guards the manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.batch.helpers import SEED_EVENT, events, write_lines
from tests.support import ServerThread
from tokentrail.batch.loader import Chunk
from tokentrail.batch.targets import CHUNK_HEADER


def tt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tokentrail.cli.main", *args], capture_output=True, text=True,
                          timeout=300)


def _chunk(project: str, data: bytes, offset_from: int = 0, **kw: object) -> dict:
    return Chunk(project=project, source="/logs/x.jsonl", size=len(data), mtime=0.0, head_hash="h", head_len=1,
                 base_time_us=0, offset_from=offset_from, offset_to=offset_from + len(data), line_from=0,
                 lines=data.count(b"\n"), crc32=0, final=False, **kw).model_dump()


def test_the_command_goes_through_the_running_server(server: ServerThread, project: str, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", events(20, "srv") + ["oops"])
    r = tt("ingest", str(path), "--url", server.url, "--project", project, "--json",
           "--dead-letter", str(tmp_path / "dead.jsonl"))
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["target"], summary["rows"], summary["rejected"]) == (server.url, 20, 1)
    assert json.loads((tmp_path / "dead.jsonl").read_text())["line"] == 21
    rows = server.query("SELECT count() AS n, sum(total_cost) AS cost FROM tokentrail.spans FINAL "
                        "WHERE project = {p:String}", {"p": project})
    assert rows[0]["n"] == 20 and round(rows[0]["cost"], 6) == summary["cost"]
    again = json.loads(tt("ingest", str(path), "--url", server.url, "--project", project, "--json").stdout)
    assert (again["unchanged"], again["rows"]) == (1, 0)


def test_the_command_prints_a_readable_summary(server: ServerThread, project: str, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", [SEED_EVENT, "not json"])
    r = tt("ingest", str(path), "--url", server.url, "--project", project, "--dead-letter", str(tmp_path / "d.jsonl"))
    assert r.returncode == 0, r.stderr
    assert "1 files (1 new" in r.stdout and "1 rows, 1 rejected lines, cost added $" in r.stdout
    assert str(tmp_path / "d.jsonl") in r.stdout.replace("\n", "")


def test_a_chunk_that_does_not_continue_the_manifest_is_refused(server: ServerThread, project: str) -> None:
    data = (json.dumps(SEED_EVENT) + "\n").encode()
    first = server.client.post("/api/ingest/files/chunk", content=data,
                               headers={CHUNK_HEADER: json.dumps(_chunk(project, data, restart=True))})
    assert first.status_code == 200, first.text
    stale = server.client.post("/api/ingest/files/chunk", content=data,
                               headers={CHUNK_HEADER: json.dumps(_chunk(project, data))})
    assert stale.status_code == 409 and "another `tokentrail ingest`" in stale.json()["error"]
    states = server.client.post("/api/ingest/files/states", json={"project": project}).json()["files"]
    assert [(s["source"], s["offset"], s["rows"]) for s in states] == [("/logs/x.jsonl", len(data), 1)]


def test_a_chunk_must_say_what_it_is(server: ServerThread, project: str) -> None:
    data = b"{}\n"
    missing = server.client.post("/api/ingest/files/chunk", content=data)
    assert missing.status_code == 400 and CHUNK_HEADER in missing.json()["error"]
    meta = _chunk(project, data, restart=True)
    meta["offset_to"] = 100
    short = server.client.post("/api/ingest/files/chunk", content=data, headers={CHUNK_HEADER: json.dumps(meta)})
    assert short.status_code == 400 and "3 bytes" in short.json()["error"]


def test_an_interval_must_be_a_duration(tmp_path: Path) -> None:
    r = tt("ingest", str(tmp_path), "--every", "soon")
    assert r.returncode == 2 and "not a duration" in r.stderr


def test_a_named_server_that_does_not_answer_is_an_error_not_a_local_load(tmp_path: Path) -> None:
    """``--url`` names the target: when nobody answers there the command says so and loads nothing, rather
    than opening a data directory of its own (a watcher used to fall back to one when a busy server's
    health check was slow, and a chDB store in the CLI process then swallowed Ctrl-C)."""
    from tests.support import free_port

    path = write_lines(tmp_path / "a.jsonl", events(3, "nobody"))
    r = subprocess.run([sys.executable, "-m", "tokentrail.cli.main", "ingest", str(path), "--url",
                        f"http://127.0.0.1:{free_port()}", "--json"], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode != 0 and "no server answers at" in r.stderr, (r.returncode, r.stderr)
    assert not (tmp_path / ".tokentrail" / "db").exists()
