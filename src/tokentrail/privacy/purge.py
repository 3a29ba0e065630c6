"""Erasure of one subject (a user, a session or a customer): ``tokentrail purge --user ID``.

What goes:

* every trace holding a span of the subject: its spans and their content (a trace is one request of
  that user; its tool and retrieval spans carry the same person's data even without the id);
* scores of those traces, and scores given by the user (``scores.user_id``);
* the per-user and per-session daily rollup rows of the subject (and of the purged sessions);
* the aggregate rollups (minute, hour, day, totals: no ids) of the minutes those spans were in are
  recomputed from the spans left, so cost and counts stay consistent with the raw rows;
* quarantined requests (refused by the store, kept on disk) that mention the id are deleted.

How: ``ALTER TABLE ... DELETE`` with ``mutations_sync`` (the parts are rewritten without the rows;
a lightweight DELETE would only hide them). The ids to delete are put in a Memory table
(``purge_ids``: never on disk) and the mutations read it through a subquery, so the mutation log the
engine keeps on disk (``mutation_N.txt``) holds no user id. The replaced parts are removed by the
engine after ``old_parts_lifetime`` (8 minutes by default). Idempotent: a second purge finds nothing.
Finally every String-like column of every table is scanned for the id (``remaining``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from tokentrail.query import rollups
from tokentrail.storage.backend import Store

log = logging.getLogger("tokentrail.privacy")
SUBJECTS = {"user": "user_id", "session": "session_id", "customer": "customer"}
IDS_TABLE = "purge_ids"
_SYNC = "SETTINGS mutations_sync = 2"


def _ids_table(store: Store) -> str:
    name = f"{store.database}.{IDS_TABLE}"
    store.command(f"CREATE TABLE IF NOT EXISTS {name} (kind LowCardinality(String), v String) ENGINE = Memory")
    return name


def _put(store: Store, table: str, kind: str, values: list[str]) -> None:
    if values:
        store.insert_arrow(table.split(".", 1)[1], pa.table({"kind": [kind] * len(values), "v": values}))


def _in(table: str, kind: str) -> str:
    return f"(SELECT v FROM {table} WHERE kind = '{kind}')"


def purge(store: Store, kind: str, value: str, project: str = "", spool_dir: Path | None = None) -> dict[str, Any]:
    """Erase the subject ``kind`` (user, session, customer) = ``value``, in ``project`` or every project."""
    if kind not in SUBJECTS or not value:
        raise ValueError(f"purge needs one of --user, --session, --customer with a value (got {kind!r})")
    t0 = time.perf_counter()
    db, col = store.database, SUBJECTS[kind]
    where_p = "AND project = {p:String}" if project else ""
    params = {"v": value, "p": project}
    spans = store.query(f"""
        SELECT DISTINCT project, trace_id FROM {db}.spans WHERE {col} = {{v:String}} {where_p}""", params)
    traces = sorted({r["trace_id"] for r in spans})
    ids = _ids_table(store)
    store.command(f"TRUNCATE TABLE {ids}")
    try:
        _put(store, ids, "trace", traces)
        _put(store, ids, kind, [value])
        # what the rollups must lose: minutes of the spans, sessions and users seen in those traces
        touched = store.query(f"""
            SELECT project, toStartOfMinute(start_time) AS minute FROM {db}.spans
            WHERE trace_id IN {_in(ids, 'trace')} GROUP BY project, minute""")
        people = store.query(f"""
            SELECT groupUniqArrayIf(session_id, session_id != '') AS sessions FROM {db}.spans
            WHERE trace_id IN {_in(ids, 'trace')} AND {col} = {{v:String}}""", params)
        sessions = people[0]["sessions"] if people else []
        if kind != "session":
            _put(store, ids, "session", sessions)
        counts = {
            "spans": _delete(store, "spans", f"trace_id IN {_in(ids, 'trace')}"),
            "contents": _delete(store, "contents", f"trace_id IN {_in(ids, 'trace')}"),
            # the spans sorted by who made them (before the refresh below, which would mark them deleted:
            # a deleted row still holds the id)
            "spans_by_user": _delete(store, "spans_by_user", f"trace_id IN {_in(ids, 'trace')}"),
            "scores": _delete(store, "scores", f"trace_id IN {_in(ids, 'trace')}"
                              + (f" OR user_id IN {_in(ids, 'user')}" if kind == "user" else "")),
        }
        user_where = {"user": f"user_id IN {_in(ids, 'user')}", "customer": f"customer IN {_in(ids, 'customer')}",
                      "session": None}[kind]
        if user_where:
            counts["rollup_day_user"] = _delete(store, "rollup_day_user", user_where)
        session_where = f"session_id IN {_in(ids, 'session')}"
        if kind == "user":
            session_where += f" OR user_id IN {_in(ids, 'user')}"
        counts["rollup_day_session"] = _delete(store, "rollup_day_session", session_where)
        # saved views of the web UI filtered on the subject (their query string names it)
        counts["saved_views"] = _delete(store, "saved_views", f"decodeURLComponent(extractURLParameter("
                                        f"concat('?', query), '{kind}')) IN {_in(ids, kind)}")
    finally:
        store.command(f"TRUNCATE TABLE {ids}")
    minutes = {(r["project"], datetime.fromisoformat(r["minute"])) for r in touched}
    recomputed = recompute(store, minutes)
    quarantined = _purge_quarantine(spool_dir, value) if spool_dir else 0
    return {"subject": kind, "id": value, "project": project or "*", "traces": len(traces), "deleted": counts,
            "rollup_minutes_recomputed": recomputed, "quarantined_requests_deleted": quarantined,
            "remaining": remaining(store, value), "seconds": round(time.perf_counter() - t0, 3)}


def digest(value: str) -> str:
    """What the audit log keeps of a purged id: enough to prove which id it was, to someone who knows it."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _delete(store: Store, table: str, where: str) -> int:
    n = store.query(f"SELECT count() AS n FROM {store.database}.{table} WHERE {where}")[0]["n"]
    if int(n):
        store.command(f"ALTER TABLE {store.database}.{table} DELETE WHERE {where} {_SYNC}")
    return int(n)


def recompute(store: Store, minutes: set[tuple[str, datetime]]) -> int:
    """Rebuild the aggregate rollups of ``minutes`` from the spans left. A refresh only writes the keys
    that still have spans, so the rows of those minutes, and of their hours and days, are deleted first
    (by time: no id in the mutation), then computed again."""
    if not minutes:
        return 0
    db = store.database
    for project in sorted({p for p, _ in minutes}):
        ms = sorted(m for p, m in minutes if p == project)
        levels = {"rollup_minute": ("minute", ms),
                  "rollup_hour": ("hour", sorted({m.replace(minute=0) for m in ms})),
                  "rollup_hour_totals": ("hour", sorted({m.replace(minute=0) for m in ms})),
                  "rollup_day": ("day", sorted({m.replace(hour=0, minute=0) for m in ms})),
                  "rollup_day_totals": ("day", sorted({m.replace(hour=0, minute=0) for m in ms}))}
        for table, (col, periods) in levels.items():
            times = ", ".join(f"'{p.isoformat(sep=' ')}'" for p in periods)
            store.command(f"ALTER TABLE {db}.{table} DELETE WHERE project = {{p:String}} AND {col} IN ({times}) "
                          f"{_SYNC}", {"p": project})
    stale_days = rollups.refresh(store, minutes)
    rollups.refresh_user_days(store, stale_days)
    return len(minutes)


def _purge_quarantine(spool_dir: Path, value: str) -> int:
    """Quarantined requests (spooled OTLP the store refused) holding the id are deleted whole."""
    needle = value.encode()
    n = 0
    for path in Path(spool_dir).glob("quarantine/**/*"):
        if path.is_file() and needle in path.read_bytes():
            path.unlink(missing_ok=True)
            n += 1
    return n


def remaining(store: Store, value: str) -> dict[str, int]:
    """Rows of any table still holding ``value`` in a String, Map or Array column (should be none)."""
    cols = store.query("""
        SELECT table, groupArray(name) AS names FROM system.columns
        WHERE database = {d:String} AND (type LIKE '%String%')
          AND table IN (SELECT name FROM system.tables WHERE database = {d:String} AND engine LIKE '%MergeTree%')
        GROUP BY table""", {"d": store.database})
    found: dict[str, int] = {}
    for row in cols:
        tests = " OR ".join(f"position(toString({c}), {{v:String}}) > 0" for c in row["names"])
        n = store.query(f"SELECT count() AS n FROM {store.database}.{row['table']} WHERE {tests}", {"v": value})
        if n and int(n[0]["n"]):
            found[row["table"]] = int(n[0]["n"])
    return found
