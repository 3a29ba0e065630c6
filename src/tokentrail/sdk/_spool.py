"""On-disk spool of encoded export batches while the server is unreachable.

One file per batch (a serialized OTLP ExportTraceServiceRequest), named
``<time_ns>-<seq>-<spans>.otlp`` so the oldest sorts first and a dropped file's span
count is known; written to a temporary name and renamed, so a crash never leaves a
half batch. Files left by an earlier run (same directory and project) are sent first.
Past ``max_bytes`` the oldest batches are dropped and counted.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _spans_of(path: Path) -> int:
    try:
        return int(path.stem.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 0


class DiskSpool:
    def __init__(self, directory: str, project: str, max_bytes: int) -> None:
        self.dir = Path(directory).expanduser() / (_SAFE.sub("_", project) or "_default")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.files: deque[Path] = deque(sorted(self.dir.glob("*.otlp")))
        self.bytes = sum(p.stat().st_size for p in self.files if p.exists())
        self.spans = sum(_spans_of(p) for p in self.files)
        self.dropped_spans = 0
        self._seq = 0

    def __len__(self) -> int:
        return len(self.files)

    def put(self, body: bytes, spans: int) -> None:
        self._seq += 1
        path = self.dir / f"{time.time_ns():020d}-{os.getpid()}.{self._seq:06d}-{spans}.otlp"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)
        self.files.append(path)
        self.bytes += len(body)
        self.spans += spans
        while self.bytes > self.max_bytes and len(self.files) > 1:
            self.dropped_spans += self._drop(self.files[0])

    def peek(self) -> tuple[Path, bytes, int] | None:
        while self.files:
            path = self.files[0]
            try:
                return path, path.read_bytes(), _spans_of(path)
            except FileNotFoundError:  # removed by another process sharing the directory
                self.files.popleft()
        return None

    def remove(self, path: Path) -> None:
        self._drop(path)

    def _drop(self, path: Path) -> int:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            size = 0
        if self.files and self.files[0] == path:
            self.files.popleft()
        elif path in self.files:
            self.files.remove(path)
        spans = _spans_of(path)
        self.bytes = max(0, self.bytes - size)
        self.spans = max(0, self.spans - spans)
        return spans
