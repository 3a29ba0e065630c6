"""A session's error count is its failed calls: a failed call inside a failed chain counts once, a failed
tool beside a call that answered counts none; a user's sessions do not count calls without a session as one;
from raw spans (a short range) and from the daily rollups (a long range) alike."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import ServerThread, running_server

P = "sess-errors"
SESSION = "s-errors-1"


def _turn(start: datetime, spans: list[tuple[str, str]]) -> list[dict]:
    """One trace: a root chain and its children, each (kind, status)."""
    trace = secrets.token_hex(16)
    root = secrets.token_hex(8)
    out = []
    for i, (kind, status) in enumerate(spans):
        t = start + timedelta(seconds=i)
        item = {"trace_id": trace, "span_id": root if i == 0 else secrets.token_hex(8),
                "parent_span_id": "" if i == 0 else root, "kind": kind, "status": status,
                "session_id": SESSION, "user_id": "u-1", "route": "support", "start_time": t.isoformat(),
                "end_time": (t + timedelta(milliseconds=500)).isoformat(), "name": f"{kind}-{i}"}
        if kind in ("llm", "embedding"):
            item.update(model="gpt-4o-mini", input_tokens=10, output_tokens=0 if status == "error" else 5)
        if status == "error":
            item["error_type"] = "server_error"
        out.append(item)
    return out


def _session_day(start: datetime) -> list[dict]:
    loner = {"model": "gpt-4o-mini", "input_tokens": 3, "user_id": "u-no-session", "start_time": start.isoformat()}
    return [loner,
        *_turn(start, [("chain", "ok"), ("llm", "ok")]),                         # answered
        *_turn(start + timedelta(minutes=1), [("chain", "error"), ("llm", "error")]),  # 1 failed call
        *_turn(start + timedelta(minutes=2), [("chain", "error"), ("tool", "error"), ("llm", "ok")]),  # tool failed
        *_turn(start + timedelta(minutes=3), [("embedding", "error")]),          # 1 failed call, no chain
    ]


FAILED_CALLS_PER_DAY = 2
CALLS_PER_DAY = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    now = datetime.now(UTC)
    earlier = (now - timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
    recent = now - timedelta(minutes=30)
    with running_server(tmp_path_factory.mktemp("sess-errors")) as s:
        r = s.client.post("/api/ingest/batch", json=_session_day(earlier) + _session_day(recent),
                          headers={"x-tokentrail-project": P})
        assert r.status_code == 200, r.text
        s.flush()
        yield s


def _session(server: ServerThread, **rng: str) -> dict:
    r = server.client.get("/api/sessions", params={"project": P, **rng})
    assert r.status_code == 200, r.text
    rows = [x for x in r.json()["sessions"] if x["session_id"] == SESSION]
    assert len(rows) == 1
    return rows[0]


def test_short_range_counts_failed_calls(server: ServerThread) -> None:
    s = _session(server, range="6h")
    assert (s["turns"], s["llm_calls"], s["errors"]) == (4, CALLS_PER_DAY, FAILED_CALLS_PER_DAY)


def test_long_range_from_the_daily_rollup_counts_failed_calls(server: ServerThread) -> None:
    now = datetime.now(UTC)
    since = (now - timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    s = _session(server, since=since.isoformat(), until=(now + timedelta(minutes=5)).isoformat())
    assert (s["turns"], s["llm_calls"], s["errors"]) == (8, 2 * CALLS_PER_DAY, 2 * FAILED_CALLS_PER_DAY)
    rolled = server.query("SELECT sum(errors) AS e FROM tokentrail.rollup_day_session FINAL "
                          "WHERE project = {p:String} AND session_id = {s:String}", {"p": P, "s": SESSION})
    assert rolled[0]["e"] == 2 * FAILED_CALLS_PER_DAY


@pytest.mark.parametrize("rng", ["6h", "7d"])
def test_a_users_sessions_leave_out_calls_without_one(server: ServerThread, rng: str) -> None:
    r = server.client.get("/api/users", params={"project": P, "range": rng})
    assert r.status_code == 200, r.text
    assert r.json()["source"] == ("raw" if rng == "6h" else "rollup")
    assert {u["key"]: u["sessions"] for u in r.json()["rows"]} == {"u-1": 1, "u-no-session": 0}


def test_the_rebuild_migration_recounts_old_rows(server: ServerThread) -> None:
    """A store whose session rollup counted failed spans gets failed calls after m016's rebuild."""
    from tokentrail.query.rollups import rebuild_day_rollups

    store = server.runtime.store
    store.command("ALTER TABLE tokentrail.rollup_day_session UPDATE errors = errors + 7 WHERE project = {p:String} "
                  "SETTINGS mutations_sync = 1", {"p": P})
    assert server.query("SELECT sum(errors) AS e FROM tokentrail.rollup_day_session FINAL "
                        "WHERE project = {p:String}", {"p": P})[0]["e"] > 2 * FAILED_CALLS_PER_DAY
    rebuild_day_rollups(store)
    assert server.query("SELECT sum(errors) AS e FROM tokentrail.rollup_day_session FINAL "
                        "WHERE project = {p:String}", {"p": P})[0]["e"] == 2 * FAILED_CALLS_PER_DAY
