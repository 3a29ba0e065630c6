"""Where raw log files come from, and reading them from an offset in line-aligned chunks.

A SOURCE is a local directory, a glob or an fsspec URL (``s3://bucket/prefix/``,
``s3://bucket/logs/*.jsonl.gz``, ``gs://...``). Directories are walked recursively;
paths with a part starting with "." (a writer's ``.inflight`` staging directory) and
``*.part`` / ``*.tmp`` files are skipped. gzip is recognised by its magic bytes.

Offsets count bytes of the decompressed content and always fall at a line end, so a
load can resume exactly where the last acknowledged chunk ended.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import queue
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

HEAD_BYTES = 64 << 10  # hashed to tell "the same file, grown" from "a new file under the same name"
QUIET_SECONDS = 300  # an unfinished last line of a file this long unchanged is a line, not a write in progress
_SKIPPED_SUFFIXES = (".part", ".tmp", ".crc")


@dataclass(frozen=True)
class SourceFile:
    url: str  # the manifest key: an absolute local path or a full URL
    path: str  # the path as the filesystem names it
    size: int
    mtime: float  # seconds since the epoch
    kind: str  # "spans", or "scores" for files under a "scores/" directory (the SDK's layout)


@dataclass(frozen=True)
class Piece:
    """One chunk of a file's content: whole lines, ``start`` to ``end`` (decompressed bytes)."""

    data: bytes
    start: int
    end: int
    line_from: int
    lines: int
    crc32: int  # of the content from the beginning up to ``end``
    raw_pos: int  # bytes of the (possibly compressed) file read so far, for progress
    final: bool  # the file's content is all consumed


def _filesystem(spec: str, options: dict[str, Any]) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError as e:
        raise ValueError("reading log files needs fsspec (and s3fs for s3://): pip install 'tokentrail[s3]'") from e
    return fsspec.core.url_to_fs(spec, **options)


def _mtime(info: dict[str, Any]) -> float:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str) and value:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


def _skipped(path: str, root: str) -> bool:
    rel = path[len(root):] if path.startswith(root) else path
    parts = [p for p in rel.split("/") if p]
    return any(p.startswith(".") for p in parts) or path.endswith(_SKIPPED_SUFFIXES)


def _kind(path: str) -> str:
    return "scores" if "scores" in path.split("/")[:-1] else "spans"


class Source:
    """The files named by one SOURCE argument."""

    def __init__(self, spec: str, options: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.fs, self.root = _filesystem(spec, options or {})
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def url(self, path: str) -> str:
        return os.path.abspath(path) if self.local else self.fs.unstrip_protocol(path)

    def files(self) -> list[SourceFile]:
        """Every file to read, sorted by path (the SDK's names sort by time)."""
        if any(c in self.root for c in "*?["):
            infos = [i for i in self.fs.glob(self.root, detail=True).values() if i.get("type") == "file"]
            pattern_start = min(self.root.find(c) for c in "*?[" if c in self.root)
            base = self.root[:self.root.rfind("/", 0, pattern_start) + 1]
            infos = [i for i in infos if not _skipped(i["name"], base)]
        elif self.fs.isdir(self.root):
            infos = [i for i in self.fs.find(self.root, detail=True).values() if i.get("type") == "file"]
            infos = [i for i in infos if not _skipped(i["name"], self.root)]
        else:
            infos = [self.fs.info(self.root)]
        out = [SourceFile(url=self.url(i["name"]), path=i["name"], size=int(i.get("size") or 0),
                          mtime=_mtime(i), kind=_kind(i["name"])) for i in infos]
        return sorted(out, key=lambda f: f.path)

    def head_hash(self, f: SourceFile, length: int) -> str:
        with self.fs.open(f.path, "rb") as raw:
            return hashlib.sha256(raw.read(length)).hexdigest()

    def pieces(self, f: SourceFile, offset: int, line_from: int, crc: int,
               chunk_bytes: int) -> Iterator[Piece]:
        """The content of ``f`` after ``offset``, in chunks of whole lines (about ``chunk_bytes``)."""
        with self.fs.open(f.path, "rb") as raw:
            compressed = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if compressed else raw
            _skip(stream, offset, compressed)
            yield from _chunks(stream, raw, f, offset, line_from, crc, chunk_bytes, compressed)


def _skip(stream: IO[bytes], offset: int, compressed: bool) -> None:
    if not compressed:
        stream.seek(offset)
        return
    left = offset
    while left > 0:
        block = stream.read(min(left, 16 << 20))
        if not block:
            raise OSError(f"the file is shorter than the {offset} bytes already loaded")
        left -= len(block)


def _count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _chunks(stream: IO[bytes], raw: IO[bytes], f: SourceFile, offset: int, line_from: int, crc: int,
            chunk_bytes: int, compressed: bool) -> Iterator[Piece]:
    buf = b""
    block = stream.read(chunk_bytes)
    while True:
        ahead = stream.read(chunk_bytes) if block else b""  # read one block ahead: is this the last piece?
        buf += block
        end = not ahead
        cut = len(buf) if end else buf.rfind(b"\n") + 1
        if end and not _tail_complete(buf[buf.rfind(b"\n") + 1:], f, compressed):
            cut = buf.rfind(b"\n") + 1  # an unfinished last line waits for the next run
        if cut or end:
            data, buf = buf[:cut], buf[cut:]
            crc = zlib.crc32(data, crc)
            n = _count(data)
            yield Piece(data=data, start=offset, end=offset + len(data), line_from=line_from, lines=n,
                        crc32=crc, raw_pos=raw.tell(), final=end and not buf)
            offset += len(data)
            line_from += n
        if end:
            return
        block = ahead


def _tail_complete(tail: bytes, f: SourceFile, compressed: bool) -> bool:
    """Is an unterminated last line finished? Yes if the file is a finished gzip stream, if
    the line parses as JSON (a cut one never does), or if the file has been quiet a while."""
    if not tail.strip() or compressed or time.time() - f.mtime > QUIET_SECONDS:
        return True
    try:
        json.loads(tail)
    except ValueError:
        return False
    return True


def read_ahead(pieces: Iterator[Piece]) -> Iterator[Piece]:
    """``pieces``, the next one read (and decompressed) in a thread while the caller loads this one."""
    q: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for piece in pieces:
                while not stop.is_set():
                    try:
                        q.put(("piece", piece), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", None))
        except BaseException as e:  # handed to the consumer, raised there
            q.put(("error", e))
        finally:
            getattr(pieces, "close", lambda: None)()  # the file is closed by the thread that reads it

    thread = threading.Thread(target=produce, name="tokentrail-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()
