"""The traces list summarizes each trace from the days its spans lie in: a trace whose spans cross midnight
(a root started before it, a step after it) is whole in the list under a user filter over a long range,
newest first and costliest first, although only its LLM call names the user."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import ServerThread, running_server

P = "trace-days"
USER = "u-midnight"


def _trace(midnight: datetime) -> tuple[str, list[dict]]:
    trace, root = secrets.token_hex(16), secrets.token_hex(8)

    def span(kind: str, start: datetime, minutes: float, parent: str = root, **more: object) -> dict:
        return {"trace_id": trace, "span_id": root if parent == "" else secrets.token_hex(8), "parent_span_id": parent,
                "kind": kind, "name": kind, "start_time": start.isoformat(),
                "end_time": (start + timedelta(minutes=minutes)).isoformat(), **more}

    return trace, [
        span("agent", midnight - timedelta(minutes=40), 80, parent=""),   # the day before
        span("llm", midnight - timedelta(minutes=10), 1, user_id=USER, model="gpt-4o-mini", input_tokens=100,
             output_tokens=10),
        span("tool", midnight + timedelta(minutes=20), 1),                 # the day after
        span("llm", midnight + timedelta(minutes=30), 1, model="gpt-4o-mini", input_tokens=200, output_tokens=20),
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, str, list[dict]]]:
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    trace, items = _trace(midnight)
    with running_server(tmp_path_factory.mktemp("trace-days")) as s:
        r = s.client.post("/api/ingest/batch", json=items, headers={"x-tokentrail-project": P})
        assert r.status_code == 200 and r.json()["accepted"] == 4, r.text
        s.flush()
        yield s, trace, items


@pytest.mark.parametrize("order", ["start_time", "cost", "duration"])
def test_a_trace_across_midnight_is_whole_under_a_user_filter(server, order: str) -> None:
    s, trace, items = server
    r = s.client.get("/api/traces", params={"project": P, "range": "7d", "user": USER, "order": order})
    assert r.status_code == 200, r.text
    (t,) = r.json()["traces"]
    assert t["trace_id"] == trace
    assert (t["spans"], t["llm_calls"], t["input_tokens"], t["output_tokens"]) == (4, 2, 300, 30)
    assert t["start_time"][:19] == items[0]["start_time"][:19].replace("T", " ")
    assert t["duration_ms"] == pytest.approx(80 * 60 * 1000, abs=1)
