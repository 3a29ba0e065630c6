"""SIGKILL ``tokentrail serve`` at random moments under concurrent OTLP clients; every acknowledged
span must be stored exactly once. Prints one JSON line.

    python bench/reliability/crash.py [--kills 20] [--clients 4] [--poison] [--seed 1]

``--poison`` adds a client sending corrupt-but-parseable protobuf bodies (bit-flipped real
exports the Python parser accepts), about 3 a second. Figures: ``acked_spans`` (span ids answered
200), ``stored_spans`` (rows after FINAL), ``lost`` (acked, not stored), ``duplicated`` (ids stored
more than once after FINAL), ``raw_rows`` (before the engine's dedupe), ``restart_max_s``,
``quarantined_files`` (spool/failed), the clients' answer ``statuses``.
"""

from __future__ import annotations

import argparse
import shutil

from _common import emit, scratch

from tests.reliability import crash


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--poison", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-acked-between-kills", type=int, default=8000)
    args = ap.parse_args()
    root = scratch("crash")
    emit(crash.run(root, kills=args.kills, clients=args.clients, poison=args.poison, seed=args.seed,
                   max_acked_between_kills=args.max_acked_between_kills))
    shutil.rmtree(root, ignore_errors=True)  # kept (with the server logs) when the run failed


if __name__ == "__main__":
    main()
