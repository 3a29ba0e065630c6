"""``tokentrail ingest SOURCE...``: load raw log files (local or S3) into the store, exactly once."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from tokentrail.batch.watch import WATCH_SECONDS, parse_duration, repeat
from tokentrail.cli.access import open_local, server_running
from tokentrail.cli.options import load_settings, settings_options
from tokentrail.config import Settings

if TYPE_CHECKING:
    from tokentrail.batch.loader import ChunkResult
    from tokentrail.batch.run import Summary
    from tokentrail.batch.sources import SourceFile

err = Console(stderr=True)


class BarProgress:
    """A rich progress bar over the raw bytes to read, with rows and rejects so far."""

    def __init__(self) -> None:
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                            TextColumn("{task.fields[rows]:,} rows, {task.fields[rejected]:,} rejected"),
                            TimeRemainingColumn(), console=err, transient=True)
        self.task: Any = None
        self.rows = self.rejected = 0

    def planned(self, files: list[SourceFile], total_bytes: int) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("ingest", total=total_bytes, rows=0, rejected=0)
        else:
            self.bar.update(self.task, total=(self.bar.tasks[0].total or 0) + total_bytes)

    def advanced(self, f: SourceFile, raw_bytes: int, result: ChunkResult) -> None:
        self.rows += result.rows
        self.rejected += result.rejected
        self.bar.update(self.task, advance=raw_bytes, rows=self.rows, rejected=self.rejected,
                        description=f.url.rsplit("/", 1)[-1][:40])

    def file_done(self, f: SourceFile, note: str) -> None:
        if note.startswith(("failed", "skipped")):
            self.bar.console.print(f"[yellow]{f.url}: {note}[/]")

    def close(self) -> None:
        if self.task is not None:
            self.bar.stop()


class LineProgress:
    """One line per chunk on stderr (logs, CI, tests)."""

    def planned(self, files: list[SourceFile], total_bytes: int) -> None:
        pass

    def advanced(self, f: SourceFile, raw_bytes: int, result: ChunkResult) -> None:
        s = result.state
        click.echo(f"chunk {f.url} offset={s['offset']} lines={s['lines']} rows={result.rows} "
                   f"rejected={result.rejected}", err=True)

    def file_done(self, f: SourceFile, note: str) -> None:
        click.echo(f"file {f.url}: {note}", err=True)


def _fs_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r}: use KEY=VALUE", param_hint="--fs-option")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _one_run(settings: Settings, sources: list[str], project: str, dead_letter: Path | None,
             chunk_mb: float, fs_options: dict[str, Any], progress_mode: str, as_json: bool,
             server_only: bool = False) -> Summary:
    from tokentrail.batch.run import DeadLetter, Quiet, Runner
    from tokentrail.batch.targets import LocalTarget, ServerTarget

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    letters = DeadLetter(dead_letter or Path(settings.data_dir).expanduser() / "dead-letter" / f"ingest-{stamp}.jsonl")
    store = None
    # a server named on purpose (--url / TOKENTRAIL_URL), or the one a --watch / --every run started with, is
    # the only target: a slow health check must not send a run into a local store of its own
    if server_running(settings.url, timeout=10.0 if server_only else 1.0):
        target: Any = ServerTarget(settings.url)
    elif server_only:
        raise click.ClickException(f"no server answers at {settings.url}; nothing loaded this time")
    else:
        from tokentrail.pricing import PriceBook
        from tokentrail.pricing.store import sync_prices

        store = open_local(settings, create=True)
        book = PriceBook(Path(settings.prices_file) if settings.prices_file else None)
        sync_prices(store, book)
        target = LocalTarget(store, book.version, settings.storage_url)
    mode = progress_mode if progress_mode != "auto" else ("bar" if err.is_terminal else "none")
    progress: Any = {"bar": BarProgress, "lines": LineProgress, "none": Quiet}[mode]()
    try:
        summary = Runner(target, project, letters, chunk_bytes=int(chunk_mb * (1 << 20)), progress=progress,
                         options=fs_options).run(sources)
    finally:
        if isinstance(progress, BarProgress):
            progress.close()
        if store is not None:
            store.close()
    _report(summary, target.where, as_json)
    return summary


def _report(s: Summary, where: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({**s.to_dict(), "target": where}))
        return
    files = (f"{s.files} files ({s.new} new, {s.resumed} resumed, {s.replaced} replaced, "
             f"{s.unchanged} unchanged" + (f", {s.failed} failed" if s.failed else "") + ")")
    cost = f"${s.cost:,.4f}" + (f" ({s.unpriced:,} calls with no price)" if s.unpriced else "")
    out = Console(soft_wrap=True)
    out.print(f"{files}: [bold]{s.rows:,}[/] rows, {s.rejected:,} rejected lines, cost added {cost}, "
              f"{s.seconds:.1f} s ({s.rows_per_s:,.0f} rows/s) into {where}")
    if s.dead_letter:
        out.print(f"[yellow]rejected lines (file and line number, reason) are in {s.dead_letter}[/]")
    if s.waiting:
        out.print(f"{s.waiting} file(s) end with an unfinished line; it is read when complete")
    for e in s.errors:
        out.print(f"[red]{e}[/]")


@click.command("ingest")
@click.argument("sources", nargs=-1, required=True)
@settings_options("url", "host", "port", "data_dir", "storage_url", "prices_file", "default_project")
@click.option("--project", default=None, help="Project of the loaded rows (default: the default project).")
@click.option("--every", default=None, help="Run again every DURATION (e.g. 15m, 1h) until stopped.")
@click.option("--watch", is_flag=True, help=f"Keep running, looking for new data every {WATCH_SECONDS:g} s.")
@click.option("--dead-letter", type=click.Path(path_type=Path), default=None,
              help="Append rejected lines here (default: DATA_DIR/dead-letter/ingest-TIME.jsonl).")
@click.option("--chunk-mb", type=click.FloatRange(min=0.001), default=128.0, show_default=True,
              help="Lines loaded (and acknowledged) together.")
@click.option("--fs-option", "fs_option", multiple=True, metavar="KEY=VALUE",
              help="fsspec storage option, e.g. endpoint_url=http://localhost:9000 (repeatable; JSON values ok).")
@click.option("--progress", "progress_mode", type=click.Choice(["auto", "bar", "lines", "none"]), default="auto",
              show_default=True, help="Progress display (auto: a bar on a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print each run's summary as one JSON line.")
def ingest(sources: tuple[str, ...], project: str | None, every: str | None, watch: bool, dead_letter: Path | None,
           chunk_mb: float, fs_option: tuple[str, ...], progress_mode: str, as_json: bool, **values: Any) -> None:
    """Load raw log files (a directory, a glob or an s3:// URL; gzip or plain JSON lines).

    Lines may be flat per-request events (the native batch format) or OTLP/JSON export
    requests (OpenTelemetry Collector file exporter). Each file is loaded exactly once;
    a stopped run resumes where it stopped; bad lines go to a dead-letter file."""
    settings = load_settings(values)
    project = project or settings.default_project
    try:
        interval = parse_duration(every) if every else (WATCH_SECONDS if watch else None)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--every") from e
    explicit = values.get("url") is not None or bool(os.environ.get("TOKENTRAIL_URL"))
    args = (settings, list(sources), project, dead_letter, chunk_mb, _fs_options(fs_option), progress_mode, as_json)
    if interval is None:
        summary = _one_run(*args, server_only=explicit)
        if summary.failed:  # a file or SOURCE could not be read (rejected lines alone are not a failure)
            sys.exit(1)
        return
    # a repeated run keeps the target it starts with: with a server, a round that cannot reach it waits
    # for the next round instead of opening the data directory (which the server owns) itself
    server_only = explicit or server_running(settings.url)

    def again() -> None:
        try:
            _one_run(*args, server_only=server_only)
        except click.ClickException as e:
            click.echo(f"error: {e.message}", err=True)

    try:
        repeat(again, interval)
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
        sys.exit(130)
