"""Sink to raw log files for the batch pipeline: JSON lines, rotating, local directory or S3 (fsspec).

Layout under FILES_DIR (a path, or an fsspec URL such as ``s3://bucket/prefix``)::

    spans/dt=2026-01-31/tokentrail-20260131T120000123456Z-<host>-<pid>-000001.jsonl
    scores/dt=2026-01-31/tokentrail-...jsonl

One JSON object per line, UTF-8, ``\\n``-terminated. Span lines use the native batch
fields (see ``_encode.native_line``); score lines the fields of ``POST /api/scores``
plus ``project``. A file is written in a local staging directory (``FILES_DIR/.inflight``
for a local FILES_DIR) and appears under its final name only when complete: closed at
``files_rotate_mb`` or ``files_rotate_seconds``, or on ``flush()``/``shutdown()``, then
renamed into place (local) or uploaded (remote; retried with backoff while it fails).
File names never repeat, so a loader can remember which it has read.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from tokentrail.sdk._encode import native_line, resource_attributes
from tokentrail.sdk._export import Counters
from tokentrail.sdk._records import SpanOut

STREAMS = ("spans", "scores")


class _OpenFile:
    def __init__(self, staging: Path, stream: str, seq: int) -> None:
        now = datetime.now(UTC)
        host = socket.gethostname().split(".")[0] or "host"
        self.rel = (f"{stream}/dt={now:%Y-%m-%d}/tokentrail-{now:%Y%m%dT%H%M%S%f}Z-{host}-{os.getpid()}-"
                    f"{seq:06d}.jsonl")
        self.path = staging / (self.rel + ".part")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle: IO[bytes] = open(self.path, "ab")
        self.opened = time.monotonic()
        self.bytes = 0
        self.lines = 0


class FileSink:
    def __init__(self, config: Any) -> None:
        self.counters = Counters()
        self.config = config
        self.resource = resource_attributes(config)
        self.project = config.project
        dest = config.files_dir
        self.remote = "://" in dest and not dest.startswith("file://")
        if self.remote:
            import fsspec

            self.fs, self.root = fsspec.core.url_to_fs(dest, **dict(config.files_options))
            base = Path(config.spool_dir).expanduser() if config.spool_dir else Path(tempfile.gettempdir())
            self.staging = base / "tokentrail-files" / hashlib.sha1(dest.encode()).hexdigest()[:12]
        else:
            self.root = str(Path(dest.removeprefix("file://")).expanduser())
            self.staging = Path(self.root) / ".inflight"
        self.staging.mkdir(parents=True, exist_ok=True)
        self.rotate_bytes = int(config.files_rotate_mb * 1024 * 1024)
        self.open: dict[str, _OpenFile] = {}
        self.closed: list[tuple[str, int, str]] = self._recover()  # (relative path, lines, stream)
        self.seq = 0
        self.failures = 0
        self.next_try = 0.0

    def _recover(self) -> list[tuple[str, int, str]]:
        """Files left in staging by an earlier run: publish them (a cut last line is dropped)."""
        found = []
        for path in sorted(self.staging.rglob("*.jsonl*")):
            data = path.read_bytes()
            if path.suffix == ".part":
                data = data[: data.rfind(b"\n") + 1]
                final = path.with_suffix("")
                final.write_bytes(data)
                path.unlink()
                path = final
            rel = path.relative_to(self.staging).as_posix()
            found.append((rel, data.count(b"\n"), rel.split("/", 1)[0]))
        return found

    # -- intake

    def _write(self, stream: str, lines: list[bytes]) -> None:
        f = self.open.get(stream)
        if f is None:
            self.seq += 1
            f = self.open[stream] = _OpenFile(self.staging, stream, self.seq)
        data = b"".join(lines)
        f.handle.write(data)
        f.bytes += len(data)
        f.lines += len(lines)
        if f.bytes >= self.rotate_bytes:
            self._close(stream)

    def encode(self, span: SpanOut) -> bytes:
        return json.dumps(native_line(span, self.resource, self.project), ensure_ascii=False,
                          separators=(",", ":")).encode() + b"\n"

    def add(self, lines: list[bytes]) -> None:
        try:
            self._write("spans", lines)
        except OSError as e:  # e.g. disk full: these spans are lost, and counted
            self.counters.spans_failed += len(lines)
            self.counters.last_export_error = f"{type(e).__name__}: {e}"

    def add_scores(self, scores: list[dict[str, Any]]) -> None:
        project = {"project": self.project} if self.project else {}
        try:
            self._write("scores", [json.dumps({**s, **project}, separators=(",", ":")).encode() + b"\n"
                                   for s in scores])
        except OSError as e:
            self.counters.scores_dropped += len(scores)
            self.counters.last_export_error = f"{type(e).__name__}: {e}"

    def _close(self, stream: str) -> None:
        f = self.open.pop(stream)
        f.handle.close()
        if f.lines == 0:
            f.path.unlink(missing_ok=True)
            return
        os.replace(f.path, f.path.with_suffix(""))
        self.closed.append((f.rel, f.lines, stream))

    # -- publishing

    def wait_seconds(self, default: float) -> float:
        now = time.monotonic()
        due = [f.opened + self.config.files_rotate_seconds - now for f in self.open.values()]
        if self.failures:
            due.append(self.next_try - now)
        return max(0.01, min([default, *due]))

    def pump(self, force: bool = False) -> None:
        now = time.monotonic()
        for stream in list(self.open):
            if force or now - self.open[stream].opened >= self.config.files_rotate_seconds:
                self._close(stream)
        if self.failures and not force and now < self.next_try:
            return
        while self.closed:
            rel, lines, stream = self.closed[0]
            try:
                self._publish(rel)
            except OSError as e:
                self.failures += 1
                self.counters.export_failures += 1
                self.counters.last_export_error = f"{type(e).__name__}: {e}"
                delay = min(self.config.max_backoff_seconds, 0.25 * 2 ** min(self.failures, 16))
                self.next_try = time.monotonic() + delay
                return
            self.closed.pop(0)
            self.failures = 0
            self.counters.files_written += 1
            if stream == "spans":
                self.counters.spans_exported += lines
            else:
                self.counters.scores_sent += lines

    def _publish(self, rel: str) -> None:
        staged = self.staging / rel
        if self.remote:
            self.fs.put_file(str(staged), f"{self.root.rstrip('/')}/{rel}")
            staged.unlink()
        else:
            final = Path(self.root) / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)

    # -- state

    def idle(self) -> bool:
        return not self.closed and not any(f.lines for f in self.open.values())

    def state(self) -> dict[str, Any]:
        return {"files_waiting": len(self.closed), "spans_in_open_file": sum(f.lines for f in self.open.values()),
                "files_dir": self.config.files_dir}

    def close(self) -> None:
        self.pump(force=True)
