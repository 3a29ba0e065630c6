"""Giant requests: one request with one trace of ``--trace-spans`` LLM spans (most under one parent),
then one request with ``--traces`` traces, while separate threads poll ``/healthz`` and two dashboard
queries (``/api/stats/routes``, ``/api/metrics/summary``). Prints one JSON line.

    python bench/reliability/giant.py [--trace-spans 100000] [--traces 10000]

Targets: ``health_max_s`` <= 1, ``query_max_s`` <= 2 (worst answer over both phases, 10 s poll
timeout), every poll answered 200 (``poll_failures``), ``stored_spans`` == ``sent_spans``; per phase
``post_s`` (acknowledged) and ``loaded_s`` (queryable, through /api/admin/flush).
"""

from __future__ import annotations

import argparse
import shutil

from _common import emit, scratch

from tests.reliability import giant


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trace-spans", type=int, default=100_000)
    ap.add_argument("--traces", type=int, default=10_000)
    ap.add_argument("--load-timeout", type=float, default=600)
    args = ap.parse_args()
    root = scratch("giant")
    emit(giant.run(root, trace_spans=args.trace_spans, traces=args.traces, load_timeout=args.load_timeout))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
