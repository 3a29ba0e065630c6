"""Alert rules, states, history, silences and deliveries in the store (one insert per kind per round)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from tokentrail.alerts.rules import parse_rule, rule_dict
from tokentrail.alerts.state import AlertState, Silence
from tokentrail.query.filters import array_param
from tokentrail.storage.alert_tables import ALERT_DELIVERIES, ALERT_EVENTS, ALERT_STATE
from tokentrail.storage.backend import Store


def _naive(t: datetime | None) -> datetime | None:
    return t.astimezone(UTC).replace(tzinfo=None) if t is not None else None


def _aware(v: Any) -> datetime | None:
    if v is None or v == "":
        return None
    t = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def _quote(v: str) -> str:
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _map_param(m: dict[str, str]) -> str:
    """A Map(String, String) query parameter in the engine's literal syntax."""
    return "{" + ",".join(f"{_quote(k)}:{_quote(v)}" for k, v in m.items()) + "}"


_TS = pa.timestamp("ms")
_LABELS = pa.map_(pa.string(), pa.string())


class Repository:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.database

    # ---- rules made through the API / CLI / UI
    def rules(self) -> list[Any]:
        rows = self.store.query(f"SELECT spec FROM {self.db}.alert_rules FINAL WHERE NOT deleted ORDER BY name")
        out = []
        for r in rows:
            try:
                out.append(parse_rule(json.loads(r["spec"])))
            except ValueError:
                continue  # a rule saved by a newer version this one cannot read: skipped, not fatal
        return out

    def save_rule(self, rule: Any, actor: str, deleted: bool = False) -> None:
        self.store.command(
            f"INSERT INTO {self.db}.alert_rules VALUES ({{n:String}}, {{p:String}}, {{s:String}}, {{d:Bool}}, "
            "{a:String}, {t:DateTime64(3)})",
            {"n": rule.name, "p": rule.project, "s": json.dumps(rule_dict(rule)), "d": deleted, "a": actor,
             "t": _naive(datetime.now(UTC))})

    # ---- states
    def states(self, rules: list[str] | None = None) -> dict[str, dict[str, AlertState]]:
        cond = "" if rules is None else "WHERE rule IN {r:Array(String)}"
        params = None if rules is None else {"r": array_param(rules)}
        rows = self.store.query(f"SELECT * FROM {self.db}.alert_state FINAL {cond}", params)
        out: dict[str, dict[str, AlertState]] = {}
        for r in rows:
            s = AlertState(rule=r["rule"], key=r["key"], project=r["project"], state=r["state"],
                           severity=r["severity"], labels=dict(r["labels"] or {}), value=r["value"],
                           threshold=r["threshold"], summary=r["summary"], explain=r["explain"],
                           since=_aware(r["since"]), fired_at=_aware(r["fired_at"]),
                           resolved_at=_aware(r["resolved_at"]), last_notified=_aware(r["last_notified"]),
                           notified_keys=list(r["notified_keys"] or []))
            out.setdefault(s.rule, {})[s.key] = s
        return out

    def write_states(self, states: list[AlertState], now: datetime) -> None:
        if not states:
            return
        cols: dict[str, list[Any]] = {c: [] for c in ALERT_STATE.column_names}
        for s in states:
            cols["rule"].append(s.rule)
            cols["key"].append(s.key)
            cols["project"].append(s.project)
            cols["state"].append(s.state)
            cols["severity"].append(s.severity)
            cols["labels"].append(list(s.labels.items()))
            cols["value"].append(s.value)
            cols["threshold"].append(s.threshold)
            cols["summary"].append(s.summary)
            cols["explain"].append(s.explain)
            cols["since"].append(_naive(s.since or now))
            cols["fired_at"].append(_naive(s.fired_at))
            cols["resolved_at"].append(_naive(s.resolved_at))
            cols["last_notified"].append(_naive(s.last_notified))
            cols["notified_keys"].append(list(s.notified_keys))
            cols["updated_at"].append(_naive(now))
        types = {"labels": _LABELS, "value": pa.float64(), "threshold": pa.float64(), "since": _TS, "fired_at": _TS,
                 "resolved_at": _TS, "last_notified": _TS, "updated_at": _TS, "notified_keys": pa.list_(pa.string())}
        self.store.insert_arrow("alert_state", pa.table({c: pa.array(v, types.get(c, pa.string()))
                                                         for c, v in cols.items()}))

    def write_events(self, events: list[AlertState], now: datetime) -> None:
        if not events:
            return
        cols: dict[str, list[Any]] = {c: [] for c in ALERT_EVENTS.column_names}
        for e in events:
            cols["time"].append(_naive(now))
            for c in ("rule", "key", "project", "state", "severity", "summary", "explain"):
                cols[c].append(getattr(e, c))
            cols["labels"].append(list(e.labels.items()))
            cols["value"].append(e.value)
            cols["threshold"].append(e.threshold)
        types = {"time": _TS, "labels": _LABELS, "value": pa.float64(), "threshold": pa.float64()}
        self.store.insert_arrow("alert_events", pa.table({c: pa.array(v, types.get(c, pa.string()))
                                                          for c, v in cols.items()}))

    def history(self, project: str | None, rule: str = "", since: datetime | None = None, limit: int = 200
                ) -> list[dict[str, Any]]:
        conds, params = ["1"], {}
        if project is not None:
            conds.append("project = {p:String}")
            params["p"] = project
        if rule:
            conds.append("rule = {r:String}")
            params["r"] = rule
        if since is not None:
            conds.append("time >= {s:DateTime64(3)}")
            params["s"] = _naive(since)
        return self.store.query(f"SELECT * FROM {self.db}.alert_events WHERE {' AND '.join(conds)} "
                                f"ORDER BY time DESC LIMIT {int(limit)}", params)

    # ---- silences
    def silences(self, project: str | None = None, include_expired: bool = False) -> list[Silence]:
        rows = self.store.query(f"SELECT * FROM {self.db}.alert_silences FINAL WHERE NOT deleted"
                                + ("" if include_expired else " AND ends_at > now64(3)")
                                + ("" if project is None else " AND project = {p:String}"),
                                None if project is None else {"p": project})
        return [Silence(id=r["id"], project=r["project"], rule=r["rule"], matchers=dict(r["matchers"] or {}),
                        starts_at=_aware(r["starts_at"]), ends_at=_aware(r["ends_at"]), comment=r["comment"],
                        created_by=r["created_by"]) for r in rows]  # type: ignore[arg-type]

    def save_silence(self, s: Silence, deleted: bool = False) -> Silence:
        s.id = s.id or uuid.uuid4().hex[:12]
        self.store.command(
            f"INSERT INTO {self.db}.alert_silences VALUES ({{i:String}}, {{p:String}}, {{r:String}}, "
            "{m:Map(String, String)}, {c:String}, {b:String}, {s:DateTime64(3)}, {e:DateTime64(3)}, {d:Bool}, "
            "{t:DateTime64(3)})",
            {"i": s.id, "p": s.project, "r": s.rule,
             "m": _map_param(s.matchers), "c": s.comment, "b": s.created_by, "s": _naive(s.starts_at), "e": _naive(s.ends_at),
             "d": deleted, "t": _naive(datetime.now(UTC))})
        return s

    # ---- deliveries
    def write_deliveries(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        cols = {c: [r[c] for r in rows] for c in ALERT_DELIVERIES.column_names}
        cols["time"] = [_naive(t) for t in cols["time"]]
        types = {"time": _TS, "ok": pa.bool_(), "attempts": pa.uint16()}
        self.store.insert_arrow("alert_deliveries", pa.table({c: pa.array(v, types.get(c, pa.string()))
                                                              for c, v in cols.items()}))

    def deliveries(self, project: str | None, limit: int = 100) -> list[dict[str, Any]]:
        cond = "" if project is None else "WHERE project = {p:String}"
        return self.store.query(f"SELECT * FROM {self.db}.alert_deliveries {cond} ORDER BY time DESC "
                                f"LIMIT {int(limit)}", None if project is None else {"p": project})
