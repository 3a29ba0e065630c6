"""The seeds' flat events say how a call ended in ``downstream_status``: "200", "429", and for a call
that timed out "timeout" (apps write other words too). Every such call is a row, a failed one with its
error type; only a line that is not a call (no model) goes to the dead-letter file."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.batch.conftest import Local
from tests.batch.helpers import SEED_EVENT, write_lines
from tests.support import ServerThread

STATUSES = ["200"] * 40 + ["429"] * 6 + ["500"] * 3 + ["timeout"] * 5 + ["Timeout"] + ["cancelled"] * 2 + ["error"] * 2


def _events() -> list[dict]:
    rng = random.Random(7)
    statuses = STATUSES[:]
    rng.shuffle(statuses)
    return [dict(SEED_EVENT, request_id=f"s{i}", downstream_status=s) for i, s in enumerate(statuses)]


def _truth(events: list[dict]) -> dict[str, int]:
    """What the file says: calls, failed calls, and failed calls per error type."""
    words = {"timeout": "timeout", "cancelled": "cancelled", "error": "error"}
    out = {"calls": len(events), "errors": 0, "429": 0, "timeout": 0, "cancelled": 0}
    for e in events:
        s = e["downstream_status"].lower()
        failed = not s.isdigit() or int(s) >= 400
        out["errors"] += failed
        if s == "429":
            out["429"] += 1
        if s in words and words[s] in out:
            out[words[s]] += 1
    return out


def _stored(store, project: str) -> dict[str, int]:
    row = store.query("""
        SELECT count() AS calls, countIf(status = 'error') AS errors, countIf(http_status = 429) AS `429`,
               countIf(error_type = 'timeout') AS timeout, countIf(error_type = 'cancelled') AS cancelled
        FROM tokentrail.spans FINAL WHERE project = {p:String}""", {"p": project})[0]
    return {k: int(v) for k, v in row.items()}


def test_timeouts_and_other_status_words_are_failed_calls_not_dead_letters(local: Local, tmp_path: Path) -> None:
    events = _events()
    summary = local.ingest(write_lines(tmp_path / "calls.jsonl", events))
    assert (summary.rows, summary.rejected) == (len(events), 0)
    assert _stored(local.store, "p") == _truth(events)
    assert not local.dead_letter.exists() or local.dead_letter.read_text() == ""


def test_a_line_without_a_model_is_a_dead_letter_and_its_neighbours_load(local: Local, tmp_path: Path) -> None:
    events = _events()[:10] + [dict(SEED_EVENT, request_id="no-model", model="")]
    del events[3]["model"]  # both ways of having no model
    summary = local.ingest(write_lines(tmp_path / "calls.jsonl", events))
    assert (summary.rows, summary.rejected) == (9, 2)
    dead = [json.loads(line) for line in local.dead_letter.read_text().splitlines()]
    assert len(dead) == 2 and all("needs a model" in json.dumps(d) for d in dead)


def test_the_http_batch_takes_status_words_the_same_way(server: ServerThread, project: str) -> None:
    events = _events()
    r = server.client.post("/api/ingest/batch", json=events, headers={"x-tokentrail-project": project})
    assert r.status_code == 200, r.text
    server.flush()
    assert _stored(server.runtime.store, project) == _truth(events)
