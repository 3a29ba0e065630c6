"""Scenarios: the store is in trouble.

- ``disk_full``: the data directory is a small tmpfs; a ballast file leaves a few MB free; four
  clients ingest until the disk is full, then the ballast is deleted. Expected: refusals are
  503/507 with Retry-After (never 500, never a timeout), no acknowledged span lost, and ingest
  recovers by itself once space is free (no restart).
- ``unreachable``: a ClickHouse server behind a TCP relay that the scenario cuts for a while
  (only with TOKENTRAIL_TEST_CLICKHOUSE_URL). Same expectations.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tests.reliability.harness import Sender, flush, ids_in, loss_figures, stop, stored_ids
from tests.support import ServerProcess, free_port, wait_for
from tokentrail.storage.backend import open_store

PROJECT = "store-trouble"


def mount_tmpfs(path: Path, size_mb: int) -> str | None:
    """Mount a tmpfs of ``size_mb`` at ``path``; the reason when this machine does not allow it."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run mount: {e}"
    return None if r.returncode == 0 else f"mount -t tmpfs refused: {r.stderr.strip() or r.returncode}"


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def _refusals(senders: list[Sender]) -> int:
    return sum(n for s in senders for k, n in s.statuses.items() if k not in ("200", "connection"))


def _acked_requests(senders: list[Sender]) -> int:
    return sum(s.requests_acked for s in senders)


def disk_full(root: Path, *, size_mb: int = 64, free_mb: int = 12, full_seconds: float = 5,
              flush_timeout: float = 120) -> dict[str, Any]:
    data = root / "data"
    reason = mount_tmpfs(data, size_mb)
    if reason:
        return {"skipped": reason}
    t0 = time.monotonic()
    try:
        server = ServerProcess(data, extra=["--batch-seconds", "0.5", "--no-spool-fsync"]).start()
        ballast = data / "ballast"
        free = shutil.disk_usage(data).free
        with open(ballast, "wb") as f:
            f.write(b"\0" * max(0, free - free_mb * 2**20))
        senders = [Sender(server.url, PROJECT, 40 + i, traces_per_request=40).start() for i in range(4)]
        figures: dict[str, Any] = {"scenario": "disk_full", "tmpfs_mb": size_mb}
        try:
            wait_for(lambda: _refusals(senders) > 0, 120)  # the disk is full
            figures["full_after_s"] = round(time.monotonic() - t0, 1)
            full_at = time.monotonic()
            wait_for(lambda: time.monotonic() - full_at > full_seconds or server.proc.poll() is not None, 60)
            figures["alive_while_full"] = server.proc.poll() is None
            figures["health_while_full"] = _get(server.url + "/healthz")
            figures["readyz_while_full"] = _get(server.url + "/readyz")
            statuses_full = sum((s.statuses for s in senders), start=type(senders[0].statuses)())
            acked_before = _acked_requests(senders)
            ballast.unlink()
            freed = time.monotonic()
            wait_for(lambda: _acked_requests(senders) > acked_before + 8, 120)  # recovered by itself
            figures["recovery_s"] = round(time.monotonic() - freed, 2)
        finally:
            for s in senders:
                s.join()
        t = time.monotonic()
        try:
            figures["flushed"] = flush(server, flush_timeout)
        finally:
            figures["flush_s"] = round(time.monotonic() - t, 1)
            stop(server)
            figures["stop_s"] = round(time.monotonic() - t - figures["flush_s"], 1)
        stored, _ = stored_ids(data, PROJECT)
    finally:
        umount(data)
    acked = [i for s in senders for i in s.acked]
    figures.update(loss_figures(acked, stored))
    figures["statuses_until_freed"] = dict(statuses_full)
    figures["statuses"] = dict(sum((s.statuses for s in senders), start=type(senders[0].statuses)()))
    figures["retry_after_missing"] = sum(s.retry_after_missing for s in senders)
    figures["unexpected_answers"] = [u for s in senders for u in s.unexpected][:5]
    figures["seconds"] = round(time.monotonic() - t0, 1)
    return figures


def _get(url: str) -> str:
    try:
        return str(httpx.get(url, timeout=10).status_code)
    except httpx.HTTPError as e:
        return type(e).__name__


class Relay:
    """A TCP relay on loopback to ``target``; ``cut()`` closes it and every connection through it
    (the store becomes unreachable), ``mend()`` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def mend(self) -> Relay:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()
        return self

    def cut(self) -> None:
        with self._lock:
            socks = [s for s in [self._listener, *self._conns] if s]
            self._conns, self._listener = [], None
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                return
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def unreachable(root: Path, clickhouse_url: str, *, outage_seconds: float = 10) -> dict[str, Any]:
    """The server backend's store cut off for ``outage_seconds`` under four clients."""
    parts = urlsplit(clickhouse_url)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 8123)).mend()
    netloc = parts.netloc.rsplit("@", 1)
    via = (netloc[0] + "@" if len(netloc) == 2 else "") + f"127.0.0.1:{relay.port}"
    storage_url = urlunsplit((parts.scheme, via, parts.path, parts.query, parts.fragment))
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    project = f"{PROJECT}-{os.getpid()}-{int(time.time())}"
    t0 = time.monotonic()
    server = ServerProcess(data, extra=["--storage-url", storage_url, "--batch-seconds", "0.5"]).start()
    senders = [Sender(server.url, project, 60 + i, traces_per_request=20).start() for i in range(4)]
    figures: dict[str, Any] = {"scenario": "store_unreachable", "outage_s": outage_seconds}
    try:
        wait_for(lambda: _acked_requests(senders) > 20, 60)
        relay.cut()
        cut_at = time.monotonic()
        wait_for(lambda: time.monotonic() - cut_at > outage_seconds, outage_seconds + 30)
        figures["health_while_cut"] = _get(server.url + "/healthz")
        figures["readyz_while_cut"] = _get(server.url + "/readyz")
        figures["query_while_cut"] = _get(server.url + "/api/stats/routes?hours=1")
        statuses_cut = sum((s.statuses for s in senders), start=type(senders[0].statuses)())
        acked_before = _acked_requests(senders)
        relay.mend()
        mended = time.monotonic()
        wait_for(lambda: _acked_requests(senders) > acked_before + 8, 120)
        figures["recovery_s"] = round(time.monotonic() - mended, 2)
    finally:
        for s in senders:
            s.join()
    try:
        figures["flushed"] = flush(server, 120)
    finally:
        stop(server)
        relay.cut()
    store = open_store(clickhouse_url)
    try:
        stored, _ = ids_in(store, project)
    finally:
        store.close()
    figures.update(loss_figures([i for s in senders for i in s.acked], stored))
    figures["statuses_until_mended"] = dict(statuses_cut)
    figures["statuses"] = dict(sum((s.statuses for s in senders), start=type(senders[0].statuses)()))
    figures["retry_after_missing"] = sum(s.retry_after_missing for s in senders)
    figures["unexpected_answers"] = [u for s in senders for u in s.unexpected][:5]
    figures["seconds"] = round(time.monotonic() - t0, 1)
    return figures
