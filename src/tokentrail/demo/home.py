"""``serve --demo``: demo traffic that is idempotent per data directory and reaches only its own server.

The first start writes ``DATA_DIR/demo.json`` (seed and the backfill's end time); every later start on
that directory sends the very same spans, ids and scores again, so the store holds one copy (a re-sent
span replaces itself) and totals do not grow. Demo data is marked ``environment=demo``. The sender
waits until the server on the port answers with THIS process's instance id (``/healthz``), so when the
port belongs to another server (ours failed to bind) nothing is sent there.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx

from tokentrail.demo.send import send_backfill, send_live

ENVIRONMENT = "demo"
log = logging.getLogger("tokentrail.demo")


def anchor(data_dir: Path) -> dict[str, int]:
    """The demo's seed and backfill end time for ``data_dir`` (made once, then read)."""
    path = data_dir / "demo.json"
    try:
        doc = json.loads(path.read_text())
        return {"seed": int(doc["seed"]), "end_ns": int(doc["end_ns"])}
    except (OSError, ValueError, KeyError, TypeError):
        doc = {"seed": 7, "end_ns": time.time_ns()}
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))
        return doc


def _ours(url: str, instance: str) -> bool | None:
    """True: our server answers; False: another server holds the port; None: nobody answers yet."""
    try:
        r = httpx.get(url.rstrip("/") + "/healthz", timeout=1.0)
    except httpx.HTTPError:
        return None
    return r.status_code == 200 and r.json().get("instance") == instance


def run(url: str, data_dir: Path, instance: str, traces: int = 20_000, days: float = 7.0,
        live_per_second: float = 0.2) -> None:
    for _ in range(600):
        ours = _ours(url, instance)
        if ours:
            break
        if ours is False:
            log.error("demo: the server at %s is not this one (is the port taken?): no demo traffic sent", url)
            return
        time.sleep(0.1)
    else:
        log.error("demo: the server did not come up at %s: no demo traffic sent", url)
        return
    a = anchor(data_dir)
    n = send_backfill(url, traces=traces, days=days, seed=a["seed"], end_ns=a["end_ns"], environment=ENVIRONMENT)
    log.info("demo: %d spans covering the 7 days before %s (environment=demo; the same on every start)", n,
             time.strftime("%Y-%m-%d %H:%M", time.gmtime(a["end_ns"] / 1e9)))
    send_live(url, per_second=live_per_second, environment=ENVIRONMENT)
