"""What the Grafana ClickHouse data source (grafana-clickhouse-datasource 4.x) does to a
panel's SQL before ClickHouse sees it, in the plugin's order:

1. Frontend, ``applyConditionalAll``: ``$__conditionalAll(condition, $var)`` becomes
   ``condition``, or ``1=1`` when the variable's current value is All (``$__all``) or empty.
2. Frontend, Grafana's template service with the plugin's formatter: ``$var``,
   ``${var}`` and ``${var:format}`` are replaced by the variable's current value. Without
   a format, a list becomes ``'a','b'`` and a single value is inserted as is;
   ``singlequote`` quotes each value and escapes ``'`` as ``\\'``, ``sqlstring`` doubles
   it, ``csv`` and ``raw`` join with commas, ``percentencode`` URL-encodes (data links).
   Names Grafana does not know (the macros below) are left alone. A multi-value variable
   set to All is only allowed inside ``$__conditionalAll`` here: our dashboards never
   expand the full list of values.
3. Backend (sqlds + the plugin's ``pkg/macros``): ``$__name`` or ``$__name(args)``, the
   arguments split at top-level commas and trimmed:
   - ``$__timeFilter(c)``     -> ``c >= toDateTime(FROM) AND c <= toDateTime(TO)`` (unix seconds)
   - ``$__timeFilter_ms(c)``  -> the same with ``fromUnixTimestamp64Milli(ms)``
   - ``$__dateFilter(c)``     -> ``c >= toDate('YYYY-MM-DD') AND c <= toDate('YYYY-MM-DD')``
   - ``$__fromTime`` / ``$__toTime``       -> ``toDateTime(unix seconds)``
   - ``$__fromTime_ms`` / ``$__toTime_ms`` -> ``fromUnixTimestamp64Milli(ms)``
   - ``$__timeInterval(c)``   -> ``toStartOfInterval(toDateTime(c), INTERVAL N second)``
   - ``$__interval_s``        -> ``N``, the query interval in whole seconds (at least 1)

The query interval is Grafana's: the time range divided by the panel's resolution,
rounded to a "nice" step (``roundInterval``), and never below the panel's minimum
``interval``. The resolution is the panel's ``maxDataPoints``, else its width in pixels,
taken here as on a 1,920-pixel-wide screen. A panel's ``timeFrom`` (relative time, e.g.
``30d``) replaces the dashboard range by ``now-30d .. now``, as Grafana does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

ALL = "$__all"
Value = str | list[str]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Grafana's roundInterval: (upper bound of the raw interval, interval), in milliseconds
_NICE_MS = ((15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000), (3500, 2000),
            (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000), (90000, 60000),
            (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000), (1500000, 1200000),
            (2700000, 1800000), (5400000, 3600000), (9000000, 7200000), (16200000, 10800000),
            (32400000, 21600000), (86400000, 43200000), (604800000, 86400000), (1814400000, 604800000),
            (3628800000, 2592000000))
_TEMPLATE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")
_MACRO = re.compile(r"\$__(\w+)")


def parse_duration(text: str) -> timedelta:
    m = re.fullmatch(r"(\d+)([smhdw])", text.strip())
    if not m:
        raise ValueError(f"not a Grafana duration: {text!r}")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def round_interval(ms: float) -> int:
    if ms < 10:
        return 1
    for bound, nice in _NICE_MS:
        if ms < bound:
            return nice
    return 31536000000


@dataclass
class Request:
    """One query as Grafana would send it: time range, interval and variable values."""

    time_from: datetime
    time_to: datetime
    variables: dict[str, Value] = field(default_factory=dict)
    interval: timedelta = timedelta(minutes=1)

    def for_panel(self, panel: dict[str, Any], now: datetime | None = None) -> Request:
        """The request of one panel: its relative time override and its interval."""
        start, end = self.time_from, self.time_to
        if panel.get("timeFrom"):
            end = now or datetime.now(UTC)
            start = end - parse_duration(panel["timeFrom"])
        resolution = panel.get("maxDataPoints") or panel["gridPos"]["w"] * 1920 // 24
        ms = round_interval((end - start).total_seconds() * 1000 / resolution)
        low = parse_duration(panel["interval"]).total_seconds() * 1000 if panel.get("interval") else 0
        return Request(start, end, self.variables, timedelta(milliseconds=max(ms, low)))


# ---- step 1: $__conditionalAll ------------------------------------------------------------------

def _macro_args(sql: str, open_paren: int) -> tuple[list[str], int]:
    """Arguments of the call whose "(" is at ``open_paren`` (split at top-level commas), and the
    index just past its ")"."""
    depth, args, start = 0, [], open_paren + 1
    for i in range(open_paren, len(sql)):
        ch = sql[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[start:i])
                return args, i + 1
        elif ch == "," and depth == 1:
            args.append(sql[start:i])
            start = i + 1
    raise ValueError(f"unbalanced parentheses after position {open_paren}")


def _is_all(value: Value | None) -> bool:
    if value is None:
        return True
    text = ",".join(value) if isinstance(value, list) else value
    return text in ("", ALL)


def conditional_all(sql: str, variables: dict[str, Value]) -> str:
    marker = "$__conditionalAll("
    while (at := sql.rfind(marker)) != -1:
        args, end = _macro_args(sql, at + len(marker) - 1)
        if len(args) != 2:
            raise ValueError(f"$__conditionalAll takes 2 arguments: {sql[at:end]}")
        name = re.search(r"(?<=\$\{)\w+(?=\})|(?<=\$)\w+", args[1].strip())
        phrase = args[0]
        if name and _is_all(variables.get(name.group(0))):
            phrase = "1=1"
        sql = sql[:at] + phrase + sql[end:]
    return sql


# ---- step 2: template variables -----------------------------------------------------------------

def _format(value: Value, fmt: str | None, name: str) -> str:
    values = value if isinstance(value, list) else [value]
    if ALL in values:
        raise ValueError(f"${name} is All but used outside $__conditionalAll")
    if fmt is None:
        return "'" + "','".join(values) + "'" if isinstance(value, list) else value
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "sqlstring":
        return ",".join("'" + v.replace("'", "''") + "'" for v in values)
    if fmt in ("csv", "raw"):
        return ",".join(values)
    if fmt == "percentencode":
        return quote(",".join(values), safe="")
    raise ValueError(f"format {fmt!r} of ${name} is not supported by this expander")


def template_variables(sql: str, variables: dict[str, Value]) -> str:
    def replace(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if name not in variables:
            return m.group(0)
        return _format(variables[name], fmt, name)

    return _TEMPLATE.sub(replace, sql)


# ---- step 3: backend macros ---------------------------------------------------------------------

def _macros(req: Request) -> dict[str, Callable[[list[str]], str]]:
    lo, hi = int(req.time_from.timestamp()), int(req.time_to.timestamp())
    lo_ms, hi_ms = int(req.time_from.timestamp() * 1000), int(req.time_to.timestamp() * 1000)
    seconds = max(int(req.interval.total_seconds()), 1)
    ms = max(int(req.interval.total_seconds() * 1000), 1)
    day = "%Y-%m-%d"

    def one(fn: Callable[[str], str]) -> Callable[[list[str]], str]:
        def call(args: list[str]) -> str:
            if len(args) != 1:
                raise ValueError(f"expected 1 argument, got {args}")
            return fn(args[0])
        return call

    return {
        "fromTime": lambda _: f"toDateTime({lo})",
        "toTime": lambda _: f"toDateTime({hi})",
        "fromTime_ms": lambda _: f"fromUnixTimestamp64Milli({lo_ms})",
        "toTime_ms": lambda _: f"fromUnixTimestamp64Milli({hi_ms})",
        "timeFilter": one(lambda c: f"{c} >= toDateTime({lo}) AND {c} <= toDateTime({hi})"),
        "timeFilter_ms": one(lambda c: f"{c} >= fromUnixTimestamp64Milli({lo_ms}) AND "
                                       f"{c} <= fromUnixTimestamp64Milli({hi_ms})"),
        "dateFilter": one(lambda c: f"{c} >= toDate('{req.time_from.astimezone(UTC):{day}}') AND "
                                    f"{c} <= toDate('{req.time_to.astimezone(UTC):{day}}')"),
        "timeInterval": one(lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {seconds} second)"),
        "timeInterval_ms": one(lambda c: f"toStartOfInterval(toDateTime64({c}, 3), INTERVAL {ms} millisecond)"),
        "interval_s": lambda _: str(seconds),
    }


def backend_macros(sql: str, req: Request) -> str:
    macros = _macros(req)
    pos = 0
    while m := _MACRO.search(sql, pos):
        fn = macros.get(m.group(1))
        if fn is None:  # not a macro of this plugin: left for ClickHouse to reject
            pos = m.end()
            continue
        args, end = ([], m.end())
        if sql.startswith("(", m.end()):
            args, end = _macro_args(sql, m.end())
            args = [a.strip() for a in args]
        sql = sql[:m.start()] + fn(args) + sql[end:]
        pos = m.start()  # the expansion may hold another macro (e.g. $__timeInterval($__fromTime))
    return sql


def expand(sql: str, req: Request) -> str:
    """The SQL ClickHouse receives for ``sql`` under ``req``."""
    sql = conditional_all(sql, req.variables)
    sql = template_variables(sql, req.variables)
    return backend_macros(sql, req)
