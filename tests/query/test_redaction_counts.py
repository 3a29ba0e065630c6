"""The quality page's PII counts: each span counted once (a re-sent span is a second version of it), the same
whether its spans with counts are grouped (few: the common case) or merged with FINAL (many), with and without
a person filter. Expected values are the PII values sent."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import ServerThread, running_server
from tokentrail.query import quality

P = "pii-counts"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    start = datetime.now(UTC) - timedelta(minutes=20)
    trace = secrets.token_hex(16)

    def call(i: int, text: str, user: str) -> dict:
        return {"trace_id": trace, "span_id": f"{i:016x}", "model": "gpt-4o-mini", "input_tokens": 10,
                "output_tokens": 2, "user_id": user, "input": text, "output": "noted",
                "start_time": (start + timedelta(seconds=i)).isoformat()}

    calls = [call(1, "write to ana@example.com please", "u-1"), call(2, "mail bo@example.org now", "u-1"),
             call(3, "cc: cy@example.net", "u-2"),
             call(4, "cards 4111 1111 1111 1111 and 5555 5555 5555 4444 on file", "u-2"),
             call(5, "order 1234 5678 9012 3456 ships today", "u-2")]  # not a card: Luhn-invalid, no count
    with running_server(tmp_path_factory.mktemp("pii-counts")) as s:
        for batch in (calls, [calls[0], calls[3]]):  # the second: spans 1 and 4 sent again (retries)
            r = s.client.post("/api/ingest/batch", json=batch, headers={"x-tokentrail-project": P})
            assert r.status_code == 200, r.text
            s.flush()
        yield s


def counts(server: ServerThread, **params: str) -> dict[str, tuple[int, int]]:
    r = server.client.get("/api/quality", params={"project": P, "range": "6h", **params})
    assert r.status_code == 200, r.text
    return {row["type"]: (row["values"], row["spans"]) for row in r.json()["redactions"]}


@pytest.mark.parametrize("grouped_max", [50_000, 0], ids=["grouped", "final"])
def test_each_span_counts_once(server: ServerThread, grouped_max: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quality, "REDACTED_GROUPED_MAX", grouped_max)
    assert counts(server) == {"EMAIL": (3, 3), "CARD": (2, 1)}
    assert counts(server, user="u-2") == {"EMAIL": (1, 1), "CARD": (2, 1)}
    assert counts(server, user="u-3") == {}
