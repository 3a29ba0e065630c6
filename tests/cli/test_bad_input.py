"""Bad input to the CLI: one clear line and a non-zero exit, never a traceback, and nothing created
(issue #24, point 6)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.support import free_port

NO_SERVER = "http://127.0.0.1:9"  # nothing listens there


def tt(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tokentrail.cli.main", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def one_line_error(r: subprocess.CompletedProcess[str], *words: str) -> str:
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("Error: "), lines[0]
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_a_reading_command_on_a_mistyped_data_dir_creates_nothing(tmp_path: Path) -> None:
    for args in (["stats"], ["keys", "list"], ["audit"], ["alerts", "rules"], ["capture-policy", "show"]):
        r = tt(*args, "--data-dir", "typo", "--url", NO_SERVER, cwd=tmp_path)
        one_line_error(r, "no store at", "typo", "--data-dir")
        assert not (tmp_path / "typo").exists(), args


def test_a_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a directory")
    one_line_error(tt("stats", "--data-dir", "afile", "--url", NO_SERVER, cwd=tmp_path), "afile is not a directory")
    r = tt("serve", "--data-dir", "afile/data", "--port", str(free_port()), cwd=tmp_path)
    one_line_error(r, "cannot use data directory afile/data", "Not a directory")


def test_serve_checks_the_port_before_creating_anything(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = tt("serve", "--data-dir", "data", "--port", str(port), cwd=tmp_path)
    one_line_error(r, f"127.0.0.1:{port}", "--port")
    assert not (tmp_path / "data").exists()


def test_serve_refuses_a_missing_or_malformed_price_file_before_creating_anything(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"gpt-x": {"input": ')
    (tmp_path / "bad.toml").write_text("[gpt-x\ninput = 1\n")
    cases = (("missing.json", "missing or unreadable"), ("bad.json", "invalid JSON"), ("bad.toml", "invalid TOML"))
    for name, words in cases:
        r = tt("serve", "--data-dir", "data", "--port", str(free_port()), "--prices-file", name, cwd=tmp_path)
        one_line_error(r, name, words)
        assert not (tmp_path / "data").exists(), name
