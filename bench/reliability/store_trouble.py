"""The store in trouble. Prints one JSON line.

    python bench/reliability/store_trouble.py [--tmpfs-mb 64] [--full-seconds 20] [--outage 60]

``disk_full``: the data directory is a tmpfs of ``--tmpfs-mb`` (needs root / mount rights; else
``skipped`` with the reason); a ballast file leaves 12 MB free, four OTLP clients ingest until
refused, the disk stays full for ``--full-seconds``, then the ballast is deleted. Figures:
``statuses`` of the clients (target: only 200 and 503/507, every refusal with Retry-After:
``retry_after_missing`` 0), ``lost`` acknowledged spans (target 0), ``recovery_s`` (ballast deleted
-> requests acknowledged again, without a restart).

``store_unreachable`` (only with TOKENTRAIL_TEST_CLICKHOUSE_URL, a ClickHouse server): the server
backend reaches it through a TCP relay that is cut for ``--outage`` s. Same figures.
"""

from __future__ import annotations

import argparse
import os
import shutil

from _common import emit, scratch

from tests.reliability import store_trouble


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tmpfs-mb", type=int, default=64)
    ap.add_argument("--full-seconds", type=float, default=20)
    ap.add_argument("--outage", type=float, default=60)
    args = ap.parse_args()
    root = scratch("store")
    out = {"disk_full": store_trouble.disk_full(root / "disk", size_mb=args.tmpfs_mb, full_seconds=args.full_seconds)}
    url = os.environ.get("TOKENTRAIL_TEST_CLICKHOUSE_URL")
    out["store_unreachable"] = (store_trouble.unreachable(root / "ch", url, outage_seconds=args.outage) if url
                                else {"skipped": "set TOKENTRAIL_TEST_CLICKHOUSE_URL"})
    emit({"scenario": "store_trouble", **out})
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
