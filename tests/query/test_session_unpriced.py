"""A session's calls without a price are counted, not passed off as $0: from raw spans (a short range) and from
the per-session daily rollup (a long range) alike, and again after m023's rebuild."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import ServerThread, running_server

P = "sess-unpriced"
PRICED, UNPRICED = "s-priced", "s-unpriced"


def _calls(start: datetime) -> list[dict]:
    def call(session: str, model: str, i: int, status: str = "ok") -> dict:
        return {"session_id": session, "user_id": "u-1", "model": model, "input_tokens": 1000, "output_tokens": 100,
                "status": status, "start_time": (start + timedelta(seconds=i)).isoformat()}

    return [call(PRICED, "gpt-4o-mini", 0), call(PRICED, "gpt-4o-mini", 1),
            # a failed call of a model without a price is not an unpriced cost: it has no usage to price
            call(UNPRICED, "acme-local-7b", 2), call(UNPRICED, "acme-local-7b", 3),
            call(UNPRICED, "acme-local-7b", 4, "error"), call(UNPRICED, "gpt-4o-mini", 5)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if now < midnight + timedelta(seconds=10):  # the recent calls must be today's, and not in the future
        time.sleep((midnight + timedelta(seconds=10) - now).total_seconds())
    recent = max(now - timedelta(minutes=30), midnight)  # today (read from the spans), whatever the hour
    earlier = (now - timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
    with running_server(tmp_path_factory.mktemp("sess-unpriced")) as s:
        r = s.client.post("/api/ingest/batch", json=_calls(earlier) + _calls(recent),
                          headers={"x-tokentrail-project": P})
        assert r.status_code == 200, r.text
        s.flush()
        yield s


def _sessions(server: ServerThread, **rng: str) -> dict[str, dict]:
    r = server.client.get("/api/sessions", params={"project": P, **rng})
    assert r.status_code == 200, r.text
    return {x["session_id"]: x for x in r.json()["sessions"]}


def _week() -> dict[str, str]:
    now = datetime.now(UTC)
    return {"since": (now - timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0).isoformat(),
            "until": (now + timedelta(minutes=5)).isoformat()}


def test_short_range_counts_unpriced_calls(server: ServerThread) -> None:
    s = _sessions(server, range="6h")
    assert (s[UNPRICED]["unpriced"], s[PRICED]["unpriced"]) == (2, 0)
    assert s[UNPRICED]["cost_usd"] > 0  # its one priced call
    assert s[UNPRICED]["cost_usd"] == pytest.approx(s[PRICED]["cost_usd"] / 2, rel=1e-6)


def test_long_range_from_the_daily_rollup_counts_unpriced_calls(server: ServerThread) -> None:
    s = _sessions(server, **_week())
    assert (s[UNPRICED]["unpriced"], s[PRICED]["unpriced"]) == (4, 0)
    assert server.query("SELECT sum(unpriced) AS n FROM tokentrail.rollup_day_session FINAL "
                        "WHERE project = {p:String} AND session_id = {s:String}", {"p": P, "s": UNPRICED})[0]["n"] == 4


def test_m023_counts_them_for_rows_made_before(server: ServerThread) -> None:
    from tokentrail.storage.migrations import m023_session_days_unpriced

    store = server.runtime.store
    store.command("ALTER TABLE tokentrail.rollup_day_session UPDATE unpriced = 0 WHERE project = {p:String} "
                  "SETTINGS mutations_sync = 1", {"p": P})
    assert _sessions(server, **_week())[UNPRICED]["unpriced"] == 2  # today's day is read from the spans
    m023_session_days_unpriced(store)
    assert _sessions(server, **_week())[UNPRICED]["unpriced"] == 4
