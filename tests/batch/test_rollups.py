"""Rollups after a local load agree with the raw spans: on a first load (read without FINAL,
as no span has two versions) and after a replaced file re-sends spans (read with FINAL)."""

from __future__ import annotations

from pathlib import Path

from tests.batch.conftest import Local
from tests.batch.helpers import SEED_EVENT, write_lines
from tests.clock import day

RAW = """
    SELECT toStartOfMinute(start_time) AS t, count() AS requests, sum(input_tokens) AS input_tokens,
           round(sum(coalesce(total_cost, 0)), 9) AS cost
    FROM tokentrail.spans FINAL WHERE project = {p:String} GROUP BY t ORDER BY t"""
ROLLED = """
    SELECT {col} AS t, sum(requests) AS requests, sum(input_tokens) AS input_tokens, round(sum(cost), 9) AS cost
    FROM tokentrail.{table} FINAL WHERE project = {{p:String}} GROUP BY t ORDER BY t"""
USERS = """
    SELECT user_id, {agg} AS requests, sum(input_tokens) AS input_tokens
    FROM tokentrail.{table} FINAL WHERE project = {{p:String}} {where} GROUP BY user_id ORDER BY user_id"""


def _events(n: int, tokens: int) -> list[dict]:
    """n calls over two days, a few per minute, five users."""
    return [dict(SEED_EVENT, request_id=f"r{i}", user_id_hash=f"h_{i % 5}", input_tokens=tokens + i,
                 timestamp=f"{day(i // 1440)}T{i // 60 % 24:02d}:{i % 60:02d}:{i % 7:02d}Z")
            for i in range(0, 2 * n, 2)]


def _agree(local: Local) -> None:
    p = {"p": "p"}
    raw = local.store.query(RAW, p)
    assert raw
    for table, col in (("rollup_minute", "minute"), ("rollup_hour", "toStartOfMinute(hour)"),
                       ("rollup_day", "toStartOfMinute(day)")):
        rolled = local.store.query(ROLLED.format(col=col, table=table), p)
        by = "toStartOfMinute" if table == "rollup_minute" else ("toStartOfHour" if table == "rollup_hour"
                                                                   else "toStartOfDay")
        expected = local.store.query(RAW.replace("toStartOfMinute(start_time)", f"{by}(start_time)"), p)
        assert [(r["requests"], r["input_tokens"], r["cost"]) for r in rolled] == \
            [(r["requests"], r["input_tokens"], r["cost"]) for r in expected], table
    users = local.store.query(USERS.format(agg="sum(requests)", table="rollup_day_user", where=""), p)
    raw_users = local.store.query(USERS.format(agg="count()", table="spans", where="AND kind = 'llm'"), p)
    assert users == raw_users


def test_rollups_agree_with_raw_after_a_first_load_and_after_a_replaced_file(local: Local, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "calls.jsonl", _events(1500, 100))
    assert local.ingest(path).rows == 1500
    _agree(local)
    # the file is replaced: the same calls (new token counts) and new ones, so spans hold two versions
    write_lines(path, _events(2000, 7000))
    summary = local.ingest(path, chunk_bytes=64 << 10)  # several chunks, several parts
    assert (summary.replaced, summary.rows) == (1, 2000)
    assert local.count() == 2000 < local.count(final=False)
    _agree(local)


def test_many_small_files_load_together_each_with_its_manifest_row(local: Local, tmp_path: Path) -> None:
    events = _events(300, 10)
    for k in range(30):
        write_lines(tmp_path / "logs" / f"part-{k:02d}.jsonl", events[k * 10:(k + 1) * 10])
    write_lines(tmp_path / "logs" / "part-99.jsonl", [SEED_EVENT, "not json"])
    summary = local.ingest(tmp_path / "logs")
    assert (summary.files, summary.new, summary.rows, summary.rejected) == (31, 31, 301, 1)
    parts = local.store.query("SELECT count() AS n FROM system.parts WHERE database = 'tokentrail' "
                              "AND table = 'spans' AND active")[0]["n"]
    assert parts <= 2  # one insert (two days: two partitions), not one per file
    states = local.store.query("SELECT source, rows, rejected, status FROM tokentrail.batch_files FINAL "
                               "WHERE project = 'p' ORDER BY source")
    assert [(s["rows"], s["rejected"], s["status"]) for s in states] == [(10, 0, "done")] * 30 + [(1, 1, "done")]
    _agree(local)
    again = local.ingest(tmp_path / "logs")
    assert (again.unchanged, again.rows) == (31, 0)
