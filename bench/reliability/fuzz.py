"""Fuzz a live ``tokentrail serve``: the HTTP API from its /openapi.json (schemathesis), the
dashboards' query strings (hypothesis) and mutated real OTLP exports, protobuf and JSON, to
/v1/traces and /v1/logs (hypothesis). Prints one JSON line.

    python bench/reliability/fuzz.py [--api-per-operation 200] [--dashboard 3000] [--otlp 6000]

Figures: ``cases`` (target >= 10,000), ``server_errors`` (5xx, target 0), ``hangs`` (no answer in
10 s, target 0); per part the answer ``statuses`` and the first ``failures`` with a reproduction
(method, path, query, body or its base64; schemathesis cases with a curl command). Schemathesis
stops an operation early when its inputs are exhausted, so ``api.cases`` can be below the ask.
"""

from __future__ import annotations

import argparse
import shutil

from _common import emit, scratch

from tests.reliability import fuzz
from tests.support import ServerProcess


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--api-per-operation", type=int, default=200)
    ap.add_argument("--dashboard", type=int, default=3000)
    ap.add_argument("--otlp", type=int, default=6000)
    args = ap.parse_args()
    root = scratch("fuzz")
    (root / "data").mkdir()
    server = ServerProcess(root / "data").start()
    try:
        figures = fuzz.run(server.url, api_per_operation=args.api_per_operation, dashboard_cases=args.dashboard,
                           otlp_cases=args.otlp)
    finally:
        server.stop()
    emit(figures)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
