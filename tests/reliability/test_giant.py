"""A giant trace or a request of many traces never stalls health checks or dashboard queries, and
every span of them is stored (the long version: bench/reliability/giant.py, 100,000 spans).

No timing assertions (shared, noisy machines): health and queries must ANSWER 200 within the
pollers' 10 s timeout throughout; the latencies are printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import giant

pytestmark = pytest.mark.timeout(150)  # a hang fails in 150 s, not at the suite's 300 s


def test_one_20k_span_trace_and_2k_traces_keep_health_and_queries_answering(tmp_path: Path) -> None:
    figures = giant.run(tmp_path, trace_spans=20_000, traces=2_000, load_timeout=50)
    print(figures)
    for phase in ("one_trace", "many_traces"):
        assert figures[phase]["post_status"] == 200, figures
        assert figures[phase]["loaded_s"] is not None, f"{phase}: not queryable within 50 s: {figures}"
        assert not any(figures[phase]["poll_failures"].values()), figures
    assert figures["stored_spans"] == figures["sent_spans"], figures
