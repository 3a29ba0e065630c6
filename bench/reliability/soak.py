"""Soak: steady ingest mixed with dashboard queries. Prints one JSON line.

    python bench/reliability/soak.py [--seconds 600] [--clients 4] [--rate 10] [--traces 40]

``--clients`` OTLP clients each send ``--rate`` requests/s of ``--traces`` demo traces (~2.8 spans
each) for ``--seconds``; /healthz and two dashboard queries are polled every second; the server's
RSS is sampled every second. Figures: ``lost`` / ``duplicated`` acknowledged spans (target 0),
``acked_spans_s``, ``rss_slope_mb_per_min`` (whole run) and ``rss_slope_second_half_mb_per_min``
(target: flat), ``rss_start_mb`` / ``rss_end_mb`` / ``vm_hwm_mb``, poll latencies and failures.
"""

from __future__ import annotations

import argparse
import shutil

from _common import emit, scratch

from tests.reliability import soak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--rate", type=float, default=10)
    ap.add_argument("--traces", type=int, default=40)
    args = ap.parse_args()
    root = scratch("soak")
    emit(soak.run(root, seconds=args.seconds, clients=args.clients, rate=args.rate,
                  traces_per_request=args.traces))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
