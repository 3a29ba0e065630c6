"""Every acknowledged span is stored exactly once across SIGKILLs, also next to a client that
sends corrupt-but-parseable bodies (the long versions: bench/reliability/crash.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import crash

pytestmark = pytest.mark.timeout(150)  # a hang fails in 150 s, not at the suite's 300 s


def test_sigkill_under_four_clients_loses_and_duplicates_no_acknowledged_span(tmp_path: Path) -> None:
    figures = crash.run(tmp_path, kills=3, clients=4, max_acked_between_kills=3000)
    print(figures)
    assert figures["acked_spans"] > 0
    assert not figures["unexpected_answers"]
    assert figures["flushed"], figures
    assert figures["lost"] == 0, figures
    assert figures["duplicated"] == 0, figures
    assert figures["dashboard_requests"] == figures["stored_calls"], figures  # replays never count a call twice


def test_corrupt_but_parseable_bodies_cost_no_other_client_its_acknowledged_spans(tmp_path: Path) -> None:
    figures = crash.run(tmp_path, kills=2, clients=4, poison=True, seed=2, max_acked_between_kills=3000)
    print(figures)
    assert figures["poison_statuses"], "the poison client sent nothing"
    assert figures["acked_spans"] > 0
    assert figures["flushed"], figures
    assert figures["lost"] == 0, figures
    assert figures["duplicated"] == 0, figures
    assert figures["dashboard_requests"] == figures["stored_calls"], figures  # replays never count a call twice
