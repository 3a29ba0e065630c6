"""Overload at ``--factor`` x capacity. Prints one JSON line.

    python bench/reliability/overload.py [--measure 20] [--seconds 90] [--factor 3] [--spool-max-mb 1024]

First the durable capacity: four clients post back to back for ``--measure`` s, then
/api/admin/flush; ``capacity_spans_s`` = spans acknowledged / time until all are queryable. Then
``--workers`` threads offer ``--factor`` x that many requests/s open-loop for ``--seconds`` s
(prepared bodies of ``--traces`` demo traces, ~1,900 spans) while /healthz and two dashboard queries are polled.
Figures: ``statuses`` (target: only 200 and 503, no ``timeout``; ``not_offered`` counts slots the
senders themselves could not keep), ``achieved_requests_s``, ``vm_hwm_mb`` and ``rss_max_mb`` of
the server, ``rss_idle_mb``, the pollers' latencies and failures, ``drained`` (backlog loaded after).
"""

from __future__ import annotations

import argparse
import shutil

from _common import emit, scratch

from tests.reliability import overload


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--measure", type=float, default=20)
    ap.add_argument("--seconds", type=float, default=90)
    ap.add_argument("--factor", type=float, default=3.0)
    ap.add_argument("--spool-max-mb", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=12)
    ap.add_argument("--traces", type=int, default=700, help="traces per request (~2.8 spans each): large requests "
                    "let the load generator, on the same machine, offer 3x what the server stores")
    args = ap.parse_args()
    root = scratch("overload")
    emit(overload.run(root, measure_seconds=args.measure, overload_seconds=args.seconds, factor=args.factor,
                      spool_max_mb=args.spool_max_mb, workers=args.workers,
                      traces_per_request=args.traces))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
