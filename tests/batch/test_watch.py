"""Running continuously: --every DURATION and --watch pick up files as they arrive."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.batch.helpers import events, write_lines
from tests.support import ServerThread, wait_for
from tokentrail.batch.watch import parse_duration, repeat


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("30s", 30), ("1h30m", 5400), ("90", 90), ("2d", 172800)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "0s", "", "5x"])
def test_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_repeat_runs_until_stopped() -> None:
    stop, runs = threading.Event(), []

    def run() -> None:
        runs.append(1)
        if len(runs) == 3:
            stop.set()

    repeat(run, every=0.001, stop=stop)
    assert len(runs) == 3


def test_watch_loads_files_as_they_arrive(server: ServerThread, project: str, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    # the child gets Ctrl-C's default disposition: a process ignoring SIGINT passes that on to what it
    # starts, and in a full test run something in this process has (the watcher then never saw the signal)
    proc = subprocess.Popen([sys.executable, "-m", "tokentrail.cli.main", "ingest", str(logs), "--watch", "--url",
                             server.url, "--project", project, "--json"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509

    def rows() -> int:
        return server.query("SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {p:String}",
                            {"p": project})[0]["n"]

    try:
        write_lines(logs / "1.jsonl", events(5, "w1"))
        wait_for(lambda: rows() == 5, timeout=60, interval=0.2)
        write_lines(logs / "2.jsonl", events(7, "w2"))
        wait_for(lambda: rows() == 12, timeout=60, interval=0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.returncode == 130
