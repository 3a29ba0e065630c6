"""Loading local files without a server: exactly once, resumable, bad lines to the dead letter."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pyarrow as pa

from tests.batch.conftest import Local
from tests.batch.helpers import OTLP_LINE, SEED_EVENT, events, write_lines
from tests.clock import day
from tokentrail.batch.run import DeadLetter, Runner
from tokentrail.batch.targets import LocalTarget
from tokentrail.storage.backend import Store


def test_a_directory_of_plain_and_gzip_files_loads_each_row_once(local: Local, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_lines(logs / "a.jsonl", events(50, "a"))
    write_lines(logs / "sub" / "b.jsonl.gz", events(30, "b"), compress=True)
    write_lines(logs / ".inflight" / "c.jsonl.part", events(5, "c"))  # a writer's staging: skipped
    write_lines(logs / "d.jsonl.part", events(5, "d"))
    first = local.ingest(logs)
    assert (first.files, first.new, first.rows, first.rejected) == (2, 2, 80, 0)
    again = local.ingest(logs)
    assert (again.unchanged, again.rows) == (2, 0)
    assert local.count() == local.count(final=False) == 80


def test_a_glob_loads_only_the_matching_files(local: Local, tmp_path: Path) -> None:
    write_lines(tmp_path / "logs" / "x-1.jsonl", events(3, "x1"))
    write_lines(tmp_path / "logs" / "x-2.jsonl", events(4, "x2"))
    write_lines(tmp_path / "logs" / "y-1.jsonl", events(5, "y1"))
    assert local.ingest(tmp_path / "logs" / "x-*.jsonl").rows == 7


def test_good_lines_load_while_bad_ones_go_to_the_dead_letter_with_file_and_line(local: Local, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "mixed.jsonl", [
        SEED_EVENT,  # 1: fast path
        "not json {",  # 2
        dict(SEED_EVENT, request_id="neg", input_tokens=-5),  # 3: refused by the model
        "",  # 4: blank lines are skipped
        dict(SEED_EVENT, request_id="lax", input_tokens="12", cached="yes"),  # 5: coerced, loaded
        OTLP_LINE,  # 6: an OTLP/JSON export request, loaded
        "[1, 2]",  # 7
        dict(SEED_EVENT, request_id="last"),  # 8
    ])
    summary = local.ingest(path)
    assert (summary.rows, summary.rejected) == (4, 3)
    assert summary.dead_letter == str(local.dead_letter)
    letters = [json.loads(x) for x in local.dead_letter.read_text().splitlines()]
    assert [(x["file"], x["line"]) for x in letters] == [(str(path), 2), (str(path), 3), (str(path), 7)]
    assert "not valid JSON" in letters[0]["error"] and "input_tokens" in letters[1]["error"]
    assert letters[2]["text"] == "[1, 2]"
    assert local.count() == 4
    refused = local.store.query("SELECT sum(count) AS n FROM tokentrail.ingest_events WHERE kind = 'rejected_line'")
    assert refused[0]["n"] == 3


def test_a_grown_file_is_read_from_where_the_last_run_stopped(local: Local, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "app.jsonl", events(10, "g"))
    assert local.ingest(path).rows == 10
    with open(path, "a") as f:
        f.writelines(json.dumps(e) + "\n" for e in events(5, "h"))
    grown = local.ingest(path)
    assert (grown.resumed, grown.rows) == (1, 5)
    assert local.count() == local.count(final=False) == 15


def test_an_unfinished_last_line_waits_until_it_is_complete(local: Local, tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    line = json.dumps(dict(SEED_EVENT, request_id="late"))
    path.write_text(json.dumps(SEED_EVENT) + "\n" + line[:20])
    first = local.ingest(path)
    assert (first.rows, first.rejected, first.waiting) == (1, 0, 1)
    with open(path, "a") as f:
        f.write(line[20:] + "\n")
    second = local.ingest(path)
    assert (second.rows, second.rejected, second.waiting) == (1, 0, 0)
    assert local.count() == 2


def test_a_replaced_file_is_loaded_again_from_the_start(local: Local, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "daily.jsonl", events(10, "old"))
    local.ingest(path)
    write_lines(path, events(4, "new"))
    again = local.ingest(path)
    assert (again.replaced, again.rows) == (1, 4)
    assert local.count() == 14


def test_events_without_ids_or_time_get_the_same_ones_when_loaded_again(local: Local, tmp_path: Path) -> None:
    bare = [{"model": "gpt-4o", "input_tokens": i, "route": "r"} for i in range(5)]
    bare.append({"model": "gpt-4o", "input_tokens": "7"})  # a coerced shape: decoded in Python
    path = write_lines(tmp_path / "bare.jsonl", bare)
    os.utime(path, (1_795_620_000, 1_795_620_000))
    assert local.ingest(path).rows == 6
    local.store.command("TRUNCATE TABLE tokentrail.batch_files")  # the manifest is lost: everything is loaded again
    assert local.ingest(path).rows == 6
    assert local.count() == 6
    times = local.store.query("SELECT DISTINCT toUnixTimestamp(start_time) AS t FROM tokentrail.spans WHERE project = 'p'")
    assert times == [{"t": 1_795_620_000}]  # dated by the file


def test_score_files_load_as_scores_once(local: Local, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "logs" / "scores" / f"dt={day()}" / "s.jsonl", [
        {"name": "thumbs", "value": 1, "span_id": "b7ad6b7169203331", "project": "p"},
        {"name": "label", "label": "good", "trace_id": "0af7651916cd43dd8448eb211c80319c"},
        {"name": "broken"},
    ])
    summary = local.ingest(tmp_path / "logs")
    assert (summary.rows, summary.rejected) == (2, 1)
    local.store.command("TRUNCATE TABLE tokentrail.batch_files")
    local.ingest(path)
    rows = local.store.query("SELECT name FROM tokentrail.scores FINAL WHERE project = 'p' ORDER BY name")
    assert [r["name"] for r in rows] == ["label", "thumbs"]


def test_a_corrupt_file_fails_alone(local: Local, tmp_path: Path) -> None:
    good = write_lines(tmp_path / "logs" / "good.jsonl", events(3, "ok"))
    packed = gzip.compress("".join(json.dumps(e) + "\n" for e in events(500, "cut")).encode())
    (tmp_path / "logs" / "bad.jsonl.gz").write_bytes(packed[: len(packed) // 2])  # cut short
    summary = local.ingest(good.parent)
    assert (summary.failed, summary.rows) == (1, 3)
    assert "bad.jsonl.gz" in summary.errors[0]


def test_a_run_stopped_between_chunks_resumes_without_loss_or_duplicates(local: Local, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "big.jsonl", events(3000, "big"))
    loads = 0
    real = local.target.load

    def crash_after_three(chunk, data, keep):  # type: ignore[no-untyped-def]
        nonlocal loads
        loads += 1
        if loads == 4:
            raise KeyboardInterrupt  # the process stops here: this chunk is not recorded
        return real(chunk, data, keep)

    local.target.load = crash_after_three  # type: ignore[method-assign]
    try:
        local.ingest(path, chunk_bytes=64 << 10)
    except KeyboardInterrupt:
        pass
    local.target.load = real  # type: ignore[method-assign]
    done_before = local.count()
    assert 0 < done_before < 3000
    resumed = local.ingest(path, chunk_bytes=64 << 10)
    assert (resumed.resumed, resumed.rows) == (1, 3000 - done_before)
    assert local.count() == local.count(final=False) == 3000


class _ServerLikeStore:
    """A store that cannot read this process's files, like the ClickHouse server backend."""

    def __init__(self, inner: Store) -> None:
        self.inner, self.database = inner, inner.database

    def command(self, sql: str, params: dict | None = None) -> None:
        self.inner.command(sql, params)

    def query(self, sql: str, params: dict | None = None) -> list[dict]:
        return self.inner.query(sql, params)

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        self.inner.insert_arrow(table, data)

    def insert_select_protobuf(self, *args: object) -> None:
        self.inner.insert_select_protobuf(*args)  # type: ignore[arg-type]


def test_a_store_that_cannot_read_local_files_gets_the_lines_sent(local: Local, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "mixed.jsonl", events(30, "m") + ["oops", OTLP_LINE, "", dict(SEED_EVENT, cached="no")])
    target = LocalTarget(_ServerLikeStore(local.store), local.target.price_version, "server-like")  # type: ignore[arg-type]
    summary = Runner(target, "p", DeadLetter(local.dead_letter)).run([str(path)])
    assert (summary.rows, summary.rejected) == (32, 1)
    assert json.loads(local.dead_letter.read_text())["line"] == 31
    assert local.count() == 32
    assert not local.store.query("SELECT name FROM system.tables WHERE name LIKE 'batch_lines_%'")
