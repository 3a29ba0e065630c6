"""One ingest run: list the files, decide per file where to start, load chunk by chunk.

Per file, against its manifest row: unknown -> load from the start; same size, same
head (first 64 KiB) and fully loaded -> unchanged, skipped; same head and a recorded
offset short of the end (a run was stopped, or the file grew) -> resume at that offset;
different head or smaller than before -> replaced, load again from the start. Bad lines
go to the dead-letter file with file and line number while the good ones load.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tokentrail.batch.formats import Reject
from tokentrail.batch.loader import Chunk, ChunkResult, ManifestConflict
from tokentrail.batch.manifest import FileState
from tokentrail.batch.sources import HEAD_BYTES, Piece, Source, SourceFile, read_ahead
from tokentrail.batch.targets import Target
from tokentrail.errors import TokentrailError

log = logging.getLogger("tokentrail.batch")
SMALL_FILE_SHARE = 4  # a file of at most a quarter of a chunk is loaded together with others
MAX_FILES_PER_INSERT = 500


@dataclass
class Summary:
    files: int = 0
    new: int = 0
    resumed: int = 0
    replaced: int = 0
    unchanged: int = 0
    failed: int = 0
    waiting: int = 0  # files whose unfinished last line waits for the next run
    rows: int = 0
    rejected: int = 0
    cost: float = 0.0
    unpriced: int = 0
    bytes: int = 0
    seconds: float = 0.0
    dead_letter: str = ""
    errors: list[str] = field(default_factory=list)
    # seconds: waiting for the file reader (decompression, line splitting), loading chunks (the
    # engine's parse, mapping and INSERT, Python's share, the manifest) and the run's end (rollups)
    stages: dict[str, float] = field(default_factory=lambda: {"read": 0.0, "load": 0.0, "rollups": 0.0})

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items()}
        d["rows_per_s"] = round(self.rows_per_s)
        d["cost"] = round(self.cost, 6)
        d["seconds"] = round(self.seconds, 3)
        d["stages"] = {k: round(v, 3) for k, v in self.stages.items()}
        return d


class Progress(Protocol):
    def planned(self, files: list[SourceFile], total_bytes: int) -> None: ...

    def advanced(self, f: SourceFile, raw_bytes: int, result: ChunkResult) -> None: ...

    def file_done(self, f: SourceFile, note: str) -> None: ...


class Quiet:
    def planned(self, files: list[SourceFile], total_bytes: int) -> None:
        pass

    def advanced(self, f: SourceFile, raw_bytes: int, result: ChunkResult) -> None:
        pass

    def file_done(self, f: SourceFile, note: str) -> None:
        pass


class DeadLetter:
    """JSON lines {"file", "line", "error", "text"}; the file is created at the first bad line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0

    def write(self, source: str, rejects: list[Reject]) -> None:
        if not rejects:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            for r in rejects:
                f.write(json.dumps({"file": source, "line": r.line, "error": r.error, "text": r.text},
                                   ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.count += len(rejects)


@dataclass
class Plan:
    f: SourceFile
    state: FileState | None
    start: FileState  # where to start: the manifest row, or a fresh one
    restart: bool
    note: str


def _fresh(f: SourceFile, project: str, head: str, head_len: int) -> FileState:
    return FileState(project=project, source=f.url, kind=f.kind, size=f.size, mtime=f.mtime, head_hash=head,
                     head_len=head_len, base_time_us=round(f.mtime * 1_000_000))


def plan_file(source: Source, f: SourceFile, state: FileState | None, project: str) -> Plan | None:
    """Where to start reading ``f``, or None when it is unchanged since it was fully loaded."""
    if state is None:
        head_len = min(HEAD_BYTES, f.size)
        return Plan(f, None, _fresh(f, project, source.head_hash(f, head_len), head_len), True, "new")
    if state.status == "done" and state.size == f.size and state.mtime == f.mtime:
        return None
    same = f.size >= state.size and source.head_hash(f, state.head_len) == state.head_hash
    if not same:
        head_len = min(HEAD_BYTES, f.size)
        return Plan(f, state, _fresh(f, project, source.head_hash(f, head_len), head_len), True, "replaced")
    if state.status == "done" and state.size == f.size:
        return None  # only touched
    return Plan(f, state, state, False, "resumed")


class Runner:
    def __init__(self, target: Target, project: str, dead_letter: DeadLetter, *, chunk_bytes: int = 64 << 20,
                 progress: Progress | None = None, options: dict[str, Any] | None = None) -> None:
        self.target = target
        self.project = project
        self.dead_letter = dead_letter
        self.chunk_bytes = chunk_bytes
        self.progress = progress or Quiet()
        self.options = options or {}

    def run(self, specs: list[str]) -> Summary:
        t0 = time.monotonic()
        summary = Summary()
        try:
            for spec in specs:
                try:
                    source = Source(spec, self.options)
                    files = source.files()
                except (OSError, ValueError) as e:
                    summary.failed += 1
                    summary.errors.append(f"cannot list {spec}: {type(e).__name__}: {e}")
                    continue
                self._run_source(source, files, summary)
        finally:
            t1 = time.monotonic()
            self.target.finish()
            summary.stages["rollups"] += time.monotonic() - t1
            summary.seconds = time.monotonic() - t0
            summary.stages["read"] = max(0.0, summary.seconds - summary.stages["load"] - summary.stages["rollups"])
            summary.dead_letter = str(self.dead_letter.path) if self.dead_letter.count else ""
        return summary

    def _run_source(self, source: Source, files: list[SourceFile], summary: Summary) -> None:
        summary.files += len(files)
        urls = [f.url for f in files]
        states = self.target.states(self.project, os.path.commonprefix(urls)) if urls else {}
        plans = []
        for f in files:
            plan = plan_file(source, f, states.get(f.url), self.project)
            if plan is None:
                summary.unchanged += 1
            else:
                plans.append(plan)
        self.progress.planned([p.f for p in plans], sum(p.f.size for p in plans))
        small: list[Plan] = []  # files loaded together, several per insert
        for plan in plans:
            if plan.f.size <= self.chunk_bytes // SMALL_FILE_SHARE:
                small.append(plan)
                continue
            self._load_small(source, small, summary)
            small = []
            self._load_file(source, plan, summary)
        self._load_small(source, small, summary)

    def _chunk(self, plan: Plan, piece: Piece, restart: bool) -> Chunk:
        f, start = plan.f, plan.start
        return Chunk(project=self.project, source=f.url, kind=f.kind, size=f.size, mtime=f.mtime,
                     head_hash=start.head_hash, head_len=start.head_len, base_time_us=start.base_time_us,
                     offset_from=piece.start, offset_to=piece.end, line_from=piece.line_from,
                     lines=piece.lines, crc32=piece.crc32, final=piece.final, restart=restart)

    def _loaded(self, plan: Plan, piece: Piece, result: ChunkResult, first: bool, raw_seen: int,
                summary: Summary) -> None:
        if first:
            setattr(summary, plan.note, getattr(summary, plan.note) + 1)  # new, resumed or replaced
        summary.rows += result.rows
        summary.rejected += result.rejected
        summary.cost += result.cost
        summary.unpriced += result.unpriced
        summary.bytes += len(piece.data)
        self.progress.advanced(plan.f, piece.raw_pos - raw_seen, result)

    def _done(self, plan: Plan, final: bool, summary: Summary) -> None:
        if not final:
            summary.waiting += 1
        self.progress.file_done(plan.f, plan.note if final else plan.note + ", last line unfinished")

    def _failed(self, plan: Plan, e: BaseException, summary: Summary) -> None:
        summary.failed += 1
        if isinstance(e, ManifestConflict):
            summary.errors.append(e.message)
            self.progress.file_done(plan.f, "skipped: " + e.message)
            return
        message = e.message if isinstance(e, TokentrailError) else f"{type(e).__name__}: {e}"
        summary.errors.append(f"{plan.f.url}: {message}")
        log.warning("%s: %s", plan.f.url, message)
        self.progress.file_done(plan.f, "failed: " + message)

    def _load_file(self, source: Source, plan: Plan, summary: Summary) -> None:
        start = plan.start
        self._load_pieces(plan, read_ahead(source.pieces(plan.f, start.offset, start.lines, start.crc32,
                                                         self.chunk_bytes)), summary)

    def _load_pieces(self, plan: Plan, pieces: Iterator[Piece], summary: Summary) -> None:
        f = plan.f
        raw_seen = loaded = 0
        restart = plan.restart
        final = False
        try:
            for piece in pieces:
                if not piece.data and not piece.final:
                    break  # nothing more but an unfinished last line
                t0 = time.monotonic()
                try:
                    result = self.target.load(self._chunk(plan, piece, restart), piece.data,
                                              lambda rejects, url=f.url: self.dead_letter.write(url, rejects))
                finally:
                    summary.stages["load"] += time.monotonic() - t0
                self._loaded(plan, piece, result, not loaded, raw_seen, summary)
                loaded += 1
                restart = False
                final = piece.final
                raw_seen = piece.raw_pos
        except (OSError, EOFError, TokentrailError) as e:  # unreadable or corrupt file: the others go on
            self._failed(plan, e, summary)
            return
        self._done(plan, final, summary)

    def _load_small(self, source: Source, plans: list[Plan], summary: Summary) -> None:
        """Small files: read ahead in a thread, loaded several per insert (up to a chunk's size)."""
        if not plans:
            return

        def read() -> Iterator[tuple[Plan, list[Piece] | BaseException]]:
            for plan in plans:
                start = plan.start
                try:
                    yield plan, list(source.pieces(plan.f, start.offset, start.lines, start.crc32,
                                                   self.chunk_bytes))
                except (OSError, EOFError, TokentrailError) as e:
                    yield plan, e

        batch: list[tuple[Plan, Piece]] = []
        size = 0
        for plan, pieces in read_ahead(read()):  # type: ignore[arg-type]
            if isinstance(pieces, BaseException):
                self._failed(plan, pieces, summary)
            elif len(pieces) > 1:  # more than a chunk once decompressed
                self._load_pieces(plan, iter(pieces), summary)
            elif not pieces[0].data and not pieces[0].final:
                self._done(plan, False, summary)  # nothing but an unfinished last line
            else:
                batch.append((plan, pieces[0]))
                size += len(pieces[0].data)
                if size >= self.chunk_bytes or len(batch) >= MAX_FILES_PER_INSERT:
                    self._load_together(batch, summary)
                    batch, size = [], 0
        self._load_together(batch, summary)

    def _load_together(self, batch: list[tuple[Plan, Piece]], summary: Summary) -> None:
        if not batch:
            return
        items = [(self._chunk(plan, piece, plan.restart), piece.data) for plan, piece in batch]
        t0 = time.monotonic()
        try:
            results = self.target.load_many(items, lambda chunk, rejects: self.dead_letter.write(chunk.source,
                                                                                                 rejects))
        except (OSError, TokentrailError) as e:
            summary.stages["load"] += time.monotonic() - t0
            for plan, _ in batch:
                self._failed(plan, e, summary)
            return
        summary.stages["load"] += time.monotonic() - t0
        for (plan, piece), result in zip(batch, results, strict=True):
            if isinstance(result, TokentrailError):
                self._failed(plan, result, summary)
                continue
            self._loaded(plan, piece, result, True, 0, summary)
            self._done(plan, piece.final, summary)
