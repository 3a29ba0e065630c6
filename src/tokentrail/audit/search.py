"""Reading the audit log back: newest first, filtered by actor, action, project and time range."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tokentrail.audit.buffer import flush

MAX_LIMIT = 10_000


def _naive_utc(t: datetime) -> str:
    t = t.astimezone(UTC) if t.tzinfo is not None else t
    return t.replace(tzinfo=None).isoformat(sep=" ")


def search(store: Any, *, actor: str = "", action: str = "", project: str = "", target: str = "",
           since: datetime | None = None, until: datetime | None = None, limit: int = 200,
           offset: int = 0) -> list[dict[str, Any]]:
    """Audit rows matching every filter given (``action`` ending in ``.*`` matches a family: ``key.*``)."""
    flush(store)
    where, params = [], {}
    if actor:
        where.append("actor = {actor:String}")
        params["actor"] = actor
    if action.endswith(".*"):
        where.append("startsWith(action, {action:String})")
        params["action"] = action[:-1]
    elif action:
        where.append("action = {action:String}")
        params["action"] = action
    if project:
        where.append("project = {project:String}")
        params["project"] = project
    if target:
        where.append("target = {target:String}")
        params["target"] = target
    if since is not None:
        where.append("time >= {since:DateTime64(3)}")
        params["since"] = _naive_utc(since)
    if until is not None:
        where.append("time < {until:DateTime64(3)}")
        params["until"] = _naive_utc(until)
    sql = (f"SELECT toUnixTimestamp64Milli(time) AS ms, actor, action, project, target, detail, ip, user_agent "
           f"FROM {store.database}.audit_log" + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY time DESC LIMIT {min(max(int(limit), 1), MAX_LIMIT)} OFFSET {max(int(offset), 0)}")
    rows = store.query(sql, params)
    for row in rows:
        ms = int(row.pop("ms"))
        row["time"] = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return rows
