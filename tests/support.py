"""Test support: a real tokentrail server on loopback (in a thread or a subprocess).

chDB lets a process open one data directory at a time, so in-process servers run one
at a time (module-scoped fixtures) and tests isolate their data by project.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from tokentrail.config import Settings
from tokentrail.privacy import encryption
from tokentrail.server.app import create_app
from tokentrail.server.runtime import Runtime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)


class ServerThread:
    def __init__(self, data_dir: Path, **settings: Any) -> None:
        self.port = free_port()
        settings = {"batch_seconds": 0.1, "spool_fsync": False, **settings}
        settings.setdefault("batch_seconds_unwatched", settings["batch_seconds"])  # tests read the store directly
        self.settings = Settings.load(data_dir=data_dir, port=self.port, **settings)
        self.runtime = Runtime(self.settings)
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(create_app(self.runtime), host="127.0.0.1", port=self.port,
                                                     log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()
        wait_for(lambda: self._server.started, 30)
        self.client = httpx.Client(base_url=self.url, timeout=60)
        return self

    def flush(self) -> None:
        assert self.client.post("/api/admin/flush").json()["flushed"]

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.flush()
        return self.runtime.store.query(sql, params)

    def contents(self, where: str = "1", params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of ``contents`` (FINAL) matching ``where``, in start order, their input and output decrypted
        (content is stored encrypted: privacy/encryption.py)."""
        self.flush()
        rows = self.runtime.store.query(
            f"SELECT * EXCEPT (key_id, input, output), {encryption.select_columns()} FROM tokentrail.contents FINAL "
            f"WHERE {where} ORDER BY start_time, span_id", params)
        return [encryption.decrypt_row(r, self.runtime.content_keys) for r in rows]

    def stop(self) -> None:
        self.client.close()
        self._server.should_exit = True
        self._thread.join(timeout=30)


@contextmanager
def running_server(data_dir: Path, **settings: Any) -> Iterator[ServerThread]:
    server = ServerThread(data_dir, **settings).start()
    try:
        yield server
    finally:
        server.stop()


class ServerProcess:
    """``tokentrail serve`` as a real subprocess (for kill -9 tests)."""

    def __init__(self, data_dir: Path, port: int | None = None, extra: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        cmd = [sys.executable, "-m", "tokentrail.cli.main", "serve", "--data-dir", str(self.data_dir),
               "--port", str(self.port), "--log-level", "warning", *self.extra]
        self.log = open(self.data_dir.parent / f"serve-{self.port}.log", "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ))

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "server exited at start"
            try:
                return httpx.get(self.url + "/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 60, 0.1)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)  # the store is locked until the process is gone
        self.log.close()


def start_fake_llm_process(port: int, max_recorded: int = 100) -> subprocess.Popen[bytes]:
    """The fake provider (tests/fake_llm) as its own process, for benchmarks; returns once it answers."""
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "tests.fake_llm", "--port", str(port), "--max-recorded", str(max_recorded)]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/_fake/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 30, 0.1)
    return proc
