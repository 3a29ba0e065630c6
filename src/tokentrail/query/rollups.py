"""Keeping rollups right: recompute the minutes (and user-hours) each insert touched,
from deduplicated spans, so rollups never double count re-sent data."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tokentrail.ingest import finish
from tokentrail.storage.backend import Store
from tokentrail.storage.rollup_tables import (
    LATENCY_BUCKETS_MS,
    OUTPUT_BUCKETS,
    ROLLUP_DIMENSIONS,
    SKETCH,
    SKETCH_ARGS,
    SPANS_BY_USER,
    TOTALS_DIMENSIONS,
)

MODEL = "if(response_model != '', response_model, request_model)"


def _buckets(expr: str) -> str:
    parts = [f"countIf({expr} <= {b})" for b in LATENCY_BUCKETS_MS]
    return "[" + ", ".join(parts + [f"countIf({expr} IS NOT NULL)"]) + "]"


def _output_buckets() -> str:
    ok = "kind = 'llm' AND status = 'ok'"
    edges = [0, *OUTPUT_BUCKETS]
    parts = [f"countIf(output_tokens = 0 AND {ok})"]
    parts += [f"countIf(output_tokens > {lo} AND output_tokens <= {hi} AND {ok})"
              for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    parts.append(f"countIf(output_tokens > {OUTPUT_BUCKETS[-1]} AND {ok})")
    return "[" + ", ".join(parts) + "]"


def _finish_counts() -> str:
    canonical = finish.sql()
    parts = [f"countIf(kind = 'llm' AND {canonical} = '{c}')" for c in finish.CANONICAL]
    return "[" + ", ".join([*parts, f"countIf(kind = 'llm' AND {canonical} = '')"]) + "]"


def _ts(t: datetime) -> str:
    return t.replace(tzinfo=None).isoformat(sep=" ")


LITERAL_LIST = 200  # longer lists of minutes are written as one array of gaps (a backfill owes thousands)


def _in_minutes(minutes: list[datetime]) -> str:
    """The right side of ``IN``: ``minutes`` (sorted, whole minutes, naive UTC). A long list is one array
    literal of the gaps between them in minutes, summed back in the engine: 2-3 bytes a minute instead of
    23, one AST node instead of one per minute."""
    if len(minutes) <= LITERAL_LIST:
        return "(" + ", ".join(f"'{m:%Y-%m-%d %H:%M:%S}'" for m in minutes) + ")"
    marks = [int(m.replace(tzinfo=UTC).timestamp()) // 60 for m in minutes]
    gaps = [marks[0]] + [b - a for a, b in zip(marks, marks[1:], strict=False)]
    return (f"(SELECT arrayJoin(arrayMap(x -> toDateTime(x * 60, 'UTC'), "
            f"arrayCumSum([{','.join(map(str, gaps))}]::Array(UInt64)))))")


def touched_minutes(store: Store, version: datetime) -> list[tuple[str, datetime]]:
    """(project, minute) pairs holding rows of the insert stamped ``version``."""
    rows = store.query(f"""
        SELECT project, toStartOfMinute(start_time) AS minute FROM {store.database}.spans
        WHERE ingested_at = {{v:DateTime64(3)}} GROUP BY project, minute""", {"v": _ts(version)})
    return [(r["project"], datetime.fromisoformat(r["minute"])) for r in rows]


def minutes_in_range(store: Store, project: str, since: datetime, until: datetime) -> list[tuple[str, datetime]]:
    rows = store.query(f"""
        SELECT DISTINCT toStartOfMinute(start_time) AS minute FROM {store.database}.spans
        WHERE project = {{p:String}} AND start_time >= {{a:DateTime64(6)}} AND start_time < {{b:DateTime64(6)}}""",
                       {"p": project, "a": _ts(since), "b": _ts(until)})
    return [(project, datetime.fromisoformat(r["minute"])) for r in rows]


def _by_project(touched: set[tuple[str, datetime]]) -> dict[str, list[datetime]]:
    out: dict[str, set[datetime]] = defaultdict(set)
    for project, t in touched:
        out[project].add(t)
    return {p: sorted(ts) for p, ts in out.items()}


# The insert of a refresh takes the aggregated blocks as they come: squashing them into bigger
# blocks copies every quantile state (about as costly as computing them), and two-level
# aggregation would hand out 256 small blocks, each a part. Keys never span partitions
# (each table's partition key is part of its sorting key), so FINAL merges within one.
_REFRESH_SETTINGS = ("min_insert_block_size_rows = 0, min_insert_block_size_bytes = 0, "
                     "group_by_two_level_threshold = 0, group_by_two_level_threshold_bytes = 0, "
                     "do_not_merge_across_partitions_select_final = 1")
_TIME_COLUMN = {"spans": "start_time", "rollup_minute": "minute", "rollup_hour": "hour", "rollup_day": "day"}
_CHECK_FROM_MINUTES = 60  # smaller refreshes (the live server's, every few seconds) keep FINAL without a check


class _Refresh:
    """One refresh's access to the store. ``source(table, params)`` reads ``table FINAL`` only
    if it may hold more than one version of a row in the query's range (project ``p``, time
    ``lo`` to ``hi``): with none (e.g. the first load of those minutes) FINAL changes no row but
    costs a merge of every part. The check (count() against count() FINAL) is made once per
    range, and only for large refreshes (``check``); the live server's small ones, every few
    seconds, keep FINAL. A row landing between the check and the query is in the minutes its
    insert queued, which the next refresh recomputes."""

    def __init__(self, store: Store, check: bool) -> None:
        self.store = store
        self.database = store.database
        self.check = check
        self._one_version: dict[tuple[str, str, str, str], bool] = {}

    def source(self, table: str, params: dict[str, str]) -> str:
        name = f"{self.database}.{table}"
        if not self.check:
            return f"{name} FINAL"
        key = (table, params["p"], params["lo"], params["hi"])
        if key not in self._one_version:
            col = _TIME_COLUMN[table]
            where = f"WHERE project = {{p:String}} AND {col} >= {{lo:DateTime64(6)}} AND {col} < {{hi:DateTime64(6)}}"
            row = self.store.query(f"SELECT (SELECT count() FROM {name} {where}) = "
                                   f"(SELECT count() FROM {name} FINAL {where}) AS same "
                                   "SETTINGS do_not_merge_across_partitions_select_final = 1", params)[0]
            self._one_version[key] = bool(row["same"])
        return name if self._one_version[key] else f"{name} FINAL"

    def insert(self, sql: str, params: dict[str, str]) -> None:
        self.store.command(f"{sql.rstrip()} SETTINGS {_REFRESH_SETTINGS}", params)


def refresh(store: Store, touched: set[tuple[str, datetime]]) -> set[tuple[str, datetime]]:
    """Recompute the minute rollups of ``touched`` (project, minute) pairs from spans, then their
    hours from the minutes. Returns the (project, day) pairs whose user rollup is now stale."""
    r = _Refresh(store, check=len(touched) >= _CHECK_FROM_MINUTES)
    for project, minutes in _by_project(touched).items():
        for i in range(0, len(minutes), 2000):
            _refresh_minutes(r, project, minutes[i:i + 2000])
            _refresh_people(r, project, minutes[i:i + 2000])
        hours = sorted({m.replace(minute=0) for m in minutes})
        for i in range(0, len(hours), 1000):
            _refresh_coarser(r, project, hours[i:i + 1000], "rollup_minute", "minute", "rollup_hour", "hour",
                             "toStartOfHour")
            _refresh_coarser(r, project, hours[i:i + 1000], "rollup_hour", "hour", "rollup_hour_totals", "hour",
                             "toStartOfHour", _TOTALS_DIMS)
        days = sorted({m.replace(hour=0, minute=0) for m in minutes})
        for i in range(0, len(days), 400):
            _refresh_coarser(r, project, days[i:i + 400], "rollup_hour", "hour", "rollup_day", "day",
                             "toStartOfDay")
            _refresh_coarser(r, project, days[i:i + 400], "rollup_day", "day", "rollup_day_totals", "day",
                             "toStartOfDay", _TOTALS_DIMS)
    return {(p, m.replace(hour=0, minute=0)) for p, m in touched}


def refresh_user_days(store: Store, days: set[tuple[str, datetime]]) -> None:
    """Recompute the per-user daily rollup of (project, day) pairs (a whole day each: run it
    less often than ``refresh``)."""
    r = _Refresh(store, check=True)
    for project, ordered in _by_project(days).items():
        for i in range(0, len(ordered), 60):
            _refresh_user_days(r, project, ordered[i:i + 60])
            _refresh_session_days(r, project, ordered[i:i + 60])


_SUM_COLUMNS = ("requests", "streamed", "cache_hits", "schema_checked", "schema_valid", "input_tokens",
                "output_tokens", "cached_input_tokens", "reasoning_tokens", "cost", "unpriced", "duration_sum_ms")
_STATE_COLUMNS = ("duration_q", "ttft_q", "tpot_q", "output_tokens_q")
_DIMS = ", ".join(ROLLUP_DIMENSIONS[2:])
_TOTALS_DIMS = ", ".join(TOTALS_DIMENSIONS)


def _minute_select(source: str, project: str, minutes: list[datetime]) -> str:
    """rollup_minute rows (in the table's column order) of ``minutes``, computed from ``source`` spans
    (``project`` is SQL: a parameter or a literal)."""
    lo, hi = _ts(minutes[0]), _ts(minutes[-1] + timedelta(minutes=1))
    return f"""
        SELECT project, toStartOfMinute(start_time) AS minute, kind, route, provider, {MODEL} AS model,
               environment, release, status, http_status, error_type, tags,
               count(), countIf(streamed), countIf(cache_hit), countIf(schema_valid IS NOT NULL),
               countIf(schema_valid = true), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
               sum(reasoning_tokens), sum(coalesce(total_cost, 0)),
               countIf(total_cost IS NULL AND status = 'ok' AND kind IN ('llm', 'embedding')),
               sum(duration_ms),
               {SKETCH}State({SKETCH_ARGS})(duration_ms),
               {SKETCH}StateIf({SKETCH_ARGS})(assumeNotNull(ttft_ms), ttft_ms IS NOT NULL),
               {SKETCH}StateIf({SKETCH_ARGS})(
                   (duration_ms - assumeNotNull(ttft_ms)) / greatest(output_tokens - 1, 1),
                   ttft_ms IS NOT NULL AND output_tokens > 1),
               {SKETCH}StateIf({SKETCH_ARGS})(toFloat64(output_tokens), kind = 'llm' AND status = 'ok'),
               {_buckets('duration_ms')}, {_buckets('ttft_ms')}, {_output_buckets()}, {_finish_counts()},
               now64(3)
        FROM {source}
        WHERE project = {project} AND start_time >= '{lo}' AND start_time < '{hi}'
          AND toStartOfMinute(start_time) IN {_in_minutes(minutes)}
        GROUP BY project, minute, {_DIMS}"""


def _coarser_select(source: str, source_time: str, project: str, periods: list[datetime], target_time: str,
                    truncate: str, dims: str = _DIMS) -> str:
    """Rows of a coarser rollup (hours or days ``periods``) merged from the finer ``source``."""
    width = timedelta(hours=1) if target_time == "hour" else timedelta(days=1)
    lo, hi = _ts(periods[0]), _ts(periods[-1] + width)
    sums = ", ".join(f"sum({c})" for c in _SUM_COLUMNS)
    states = ", ".join(f"{SKETCH}MergeState({SKETCH_ARGS})({c})" for c in _STATE_COLUMNS)
    return f"""
        SELECT project, {truncate}({source_time}) AS {target_time}, {dims}, {sums}, {states},
               sumForEach(latency_buckets), sumForEach(ttft_buckets), sumForEach(output_buckets),
               sumForEach(finish_counts), now64(3)
        FROM {source}
        WHERE project = {project} AND {source_time} >= '{lo}' AND {source_time} < '{hi}'
          AND {truncate}({source_time}) IN {_in_minutes(periods)}
        GROUP BY project, {target_time}, {dims}"""


def _refresh_minutes(r: _Refresh, project: str, minutes: list[datetime]) -> None:
    params = {"p": project, "lo": _ts(minutes[0]), "hi": _ts(minutes[-1] + timedelta(minutes=1))}
    r.insert(f"INSERT INTO {r.database}.rollup_minute "
             + _minute_select(r.source("spans", params), "{p:String}", minutes), params)


def _refresh_coarser(r: _Refresh, project: str, periods: list[datetime], source: str, source_time: str,
                     target: str, target_time: str, truncate: str, dims: str = _DIMS) -> None:
    """Rebuild ``target`` rows of ``periods`` (hours or days) by merging the finer ``source``
    (keeping the dimensions ``dims``)."""
    width = timedelta(hours=1) if target_time == "hour" else timedelta(days=1)
    params = {"p": project, "lo": _ts(periods[0]), "hi": _ts(periods[-1] + width)}
    r.insert(f"INSERT INTO {r.database}.{target} " + _coarser_select(
        r.source(source, params), source_time, "{p:String}", periods, target_time, truncate, dims), params)


# -- spans_by_user: the spans again, sorted by customer, user and session --------------------------------
PEOPLE_COLUMNS = tuple(c.name for c in SPANS_BY_USER.columns
                       if c.name not in ("version", "deleted") and not c.materialized)
# columns the engine computes at insert (user_key, cost_pico): a read of spans' rows computes them the same way
PEOPLE_DERIVED = {c.name: c.materialized for c in SPANS_BY_USER.columns if c.materialized}
# the spans it holds: every LLM / embedding call, and any other span that names someone
PEOPLE_ROWS = "(kind IN ('llm', 'embedding') OR user_id != '' OR customer != '' OR session_id != '')"


def _people_select(source: str, project: str, minutes: list[datetime]) -> str:
    """spans_by_user rows (without version and deleted) of ``minutes``, from ``source`` spans."""
    lo, hi = _ts(minutes[0]), _ts(minutes[-1] + timedelta(minutes=1))
    return f"""
        SELECT {', '.join(PEOPLE_COLUMNS)} FROM {source}
        WHERE project = {project} AND start_time >= '{lo}' AND start_time < '{hi}'
          AND toStartOfMinute(start_time) IN {_in_minutes(minutes)} AND {PEOPLE_ROWS}"""


def _refresh_people(r: _Refresh, project: str, minutes: list[datetime]) -> None:
    """The spans_by_user rows of ``minutes`` as the spans now are; a row it held there that the spans no
    longer make (its span's user, customer or session changed, or the span was purged) gets a newer
    deleted version, which FINAL drops."""
    lo, hi = _ts(minutes[0]), _ts(minutes[-1] + timedelta(minutes=1))
    params = {"p": project, "lo": lo, "hi": hi}
    now = datetime.now(UTC).replace(tzinfo=None)
    old, new = _ts(now), _ts(now + timedelta(microseconds=1))
    r.insert(f"""
        INSERT INTO {r.database}.spans_by_user
        SELECT *, toDateTime64('{new}', 6) AS version, 0 AS deleted
        FROM ({_people_select(r.source("spans", params), "{p:String}", minutes)})
        UNION ALL
        SELECT * EXCEPT (version, deleted), toDateTime64('{old}', 6) AS version, 1 AS deleted
        FROM (SELECT * FROM {r.database}.spans_by_user
              WHERE project = {{p:String}} AND start_time >= '{lo}' AND start_time < '{hi}'
                AND toStartOfMinute(start_time) IN {_in_minutes(minutes)} AND deleted = 0)""", params)


def exact_people_source(database: str, project: str, pending: frozenset[datetime] | set[datetime]) -> str:
    """FROM-clause source of spans_by_user for ``project`` (SQL: parameter or literal), its ``pending``
    minutes (touched by inserts, not refreshed yet) read from the spans: exact at every moment."""
    if not pending:
        return f"{database}.spans_by_user FINAL"
    minutes = sorted(pending)
    clean = (f"SELECT {', '.join([*PEOPLE_COLUMNS, *PEOPLE_DERIVED])} FROM {database}.spans_by_user FINAL "
             f"WHERE project = {project} AND toStartOfMinute(start_time) NOT IN {_in_minutes(minutes)}")
    derived = ", ".join(f"{sql} AS {name}" for name, sql in PEOPLE_DERIVED.items())
    fresh = f"SELECT *, {derived} FROM ({_people_select(f'{database}.spans FINAL', project, minutes)})"
    return f"({clean} UNION ALL {fresh})"


# -- exact reads: rollups plus what they do not hold yet ----------------------------------------------
# A rollup row is recomputed a few seconds after an insert touches its minute (``RollupQueue``). Until
# then a read of the rollup alone would disagree with the spans. ``exact_source`` is what every read of a
# rollup uses instead of the table: its rows for periods no pending minute touches, and for the pending
# periods the very rows a refresh would write, computed on the fly (from spans for minutes, from the
# exact finer level for hours and days). The pending periods are the recent ones: a small raw read.
_COARSER = {  # table -> (finer table, its time column, this time column, truncation, dimensions)
    "rollup_hour": ("rollup_minute", "minute", "hour", "toStartOfHour", _DIMS),
    "rollup_hour_totals": ("rollup_hour", "hour", "hour", "toStartOfHour", _TOTALS_DIMS),
    "rollup_day": ("rollup_hour", "hour", "day", "toStartOfDay", _DIMS),
    "rollup_day_totals": ("rollup_day", "day", "day", "toStartOfDay", _TOTALS_DIMS),
}
_TRUNC = {"minute": lambda m: m, "hour": lambda m: m.replace(minute=0),
          "day": lambda m: m.replace(hour=0, minute=0)}


def exact_source(database: str, table: str, project: str, pending: frozenset[datetime] | set[datetime]) -> str:
    """FROM-clause source of ``table`` (a rollup) for ``project`` (SQL: parameter or literal) that holds
    the minutes ``pending`` (touched, not refreshed yet) as a refresh would: exact at every moment."""
    if not pending:
        return f"{database}.{table} FINAL"
    time_col = "minute" if table == "rollup_minute" else _COARSER[table][2]
    periods = sorted({_TRUNC[time_col](m) for m in pending})
    clean = (f"SELECT * FROM {database}.{table} FINAL WHERE project = {project} "
             f"AND {time_col} NOT IN {_in_minutes(periods)}")
    if table == "rollup_minute":
        fresh = _minute_select(f"{database}.spans FINAL", project, periods)
    else:
        finer, finer_time, target_time, truncate, dims = _COARSER[table]
        fresh = _coarser_select(exact_source(database, finer, project, pending), finer_time, project, periods,
                                target_time, truncate, dims)
    return f"({clean} UNION ALL {fresh})"


def _in_days(days: list[datetime]) -> str:
    return "(" + ", ".join(f"'{d:%Y-%m-%d}'" for d in days) + ")"


def _user_day_select(source: str, project: str, days: list[datetime]) -> str:
    lo, hi = _ts(days[0]), _ts(days[-1] + timedelta(days=1))
    return f"""
        SELECT project, toDate(start_time) AS day, user_id, customer, environment,
               count(), countIf(status = 'error'), sum(input_tokens), sum(output_tokens),
               sum(coalesce(total_cost, 0)), countIf(total_cost IS NULL AND status = 'ok'),
               uniqStateIf(session_id, session_id != ''), max(start_time), now64(3)
        FROM {source}
        WHERE project = {project} AND start_time >= '{lo}' AND start_time < '{hi}'
          AND toDate(start_time) IN {_in_days(days)}
          AND kind IN ('llm', 'embedding') AND (user_id != '' OR customer != '')
        GROUP BY project, day, user_id, customer, environment"""


def _session_day_select(source: str, project: str, days: list[datetime]) -> str:
    lo, hi = _ts(days[0]), _ts(days[-1] + timedelta(days=1))
    return f"""
        SELECT project, session_id, toDate(start_time) AS day, anyIf(user_id, user_id != ''), uniqState(trace_id),
               min(start_time), max(end_time), max(start_time), countIf(kind IN ('llm', 'embedding')),
               sum(input_tokens) + sum(output_tokens), sum(coalesce(total_cost, 0)),
               countIf(total_cost IS NULL AND status = 'ok' AND kind IN ('llm', 'embedding')),
               countIf(status = 'error' AND kind IN ('llm', 'embedding')), groupUniqArrayIf(route, route != ''), now64(3)
        FROM {source}
        WHERE project = {project} AND start_time >= '{lo}' AND start_time < '{hi}'
          AND toDate(start_time) IN {_in_days(days)} AND session_id != ''
        GROUP BY project, session_id, day"""


_DAY_SELECTS = {"rollup_day_user": _user_day_select, "rollup_day_session": _session_day_select}


def _refresh_user_days(r: _Refresh, project: str, days: list[datetime]) -> None:
    params = {"p": project, "lo": _ts(days[0]), "hi": _ts(days[-1] + timedelta(days=1))}
    r.insert(f"INSERT INTO {r.database}.rollup_day_user "
             + _user_day_select(r.source("spans", params), "{p:String}", days), params)


def _refresh_session_days(r: _Refresh, project: str, days: list[datetime]) -> None:
    params = {"p": project, "lo": _ts(days[0]), "hi": _ts(days[-1] + timedelta(days=1))}
    r.insert(f"INSERT INTO {r.database}.rollup_day_session "
             + _session_day_select(r.source("spans", params), "{p:String}", days), params)


def exact_day_source(database: str, table: str, project: str, stale: frozenset[datetime] | set[datetime]) -> str:
    """FROM-clause source of a per-user or per-session daily rollup (``table``) that holds the ``stale``
    days (whose rows are not refreshed yet) as a refresh would: their rows computed from the spans."""
    if not stale:
        return f"{database}.{table} FINAL"
    days = sorted({d.replace(hour=0, minute=0, second=0, microsecond=0) for d in stale})
    clean = f"SELECT * FROM {database}.{table} FINAL WHERE project = {project} AND day NOT IN {_in_days(days)}"
    return f"({clean} UNION ALL {_DAY_SELECTS[table](f'{database}.spans FINAL', project, days)})"


def rebuild_day_rollups(store: Store) -> None:
    """Recompute the per-user and per-session daily rollups from the spans still kept (after their
    definitions changed)."""
    rows = store.query(f"SELECT DISTINCT project, toStartOfDay(start_time) AS day FROM {store.database}.spans")
    refresh_user_days(store, {(row["project"], datetime.fromisoformat(row["day"])) for row in rows})


def rebuild_all(store: Store) -> None:
    """Recompute every rollup from the spans still kept (after a schema change)."""
    rows = store.query(f"SELECT DISTINCT project, toStartOfMinute(start_time) AS minute FROM {store.database}.spans")
    touched = {(r["project"], datetime.fromisoformat(r["minute"])) for r in rows}
    if touched:
        refresh_user_days(store, refresh(store, touched))


class RollupQueue:
    """Minutes touched by inserts and not refreshed yet: filled after each insert, drained by the rollup
    job, and counted as pending until that refresh is done (``done``), so reads compute them on the fly
    (``exact_source``). With a ``path`` the set is kept on disk too, so a restart knows what it owes."""

    def __init__(self, path: Path | None = None) -> None:
        self._pending: set[tuple[str, datetime]] = set()
        self._in_flight: set[tuple[str, datetime]] = set()
        self._lock = threading.Lock()
        self._path = path
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                project, _, minute = line.rpartition("\t")
                try:
                    self._pending.add((project, datetime.fromisoformat(minute)))
                except ValueError:
                    continue  # a line torn by a crash: the minute is in the line before or after

    def _save(self) -> None:
        if self._path is None:
            return
        items = self._pending | self._in_flight
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text("".join(f"{p}\t{m.isoformat()}\n" for p, m in sorted(items)))
        tmp.replace(self._path)

    def add(self, items: list[tuple[str, datetime]]) -> None:
        with self._lock:
            new = set(items) - self._pending
            self._pending.update(items)
            if new:
                self._save()

    def drain(self) -> set[tuple[str, datetime]]:
        """Take the pending minutes for a refresh; they stay pending for reads until ``done``."""
        with self._lock:
            out, self._pending = self._pending, set()
            self._in_flight |= out
        return out

    def done(self, items: set[tuple[str, datetime]]) -> None:
        with self._lock:
            self._in_flight -= items
            self._save()

    def pending_for(self, project: str) -> frozenset[datetime]:
        with self._lock:
            return frozenset(m for p, m in self._pending | self._in_flight if p == project)

    def projects(self) -> set[str]:
        """The projects with minutes not refreshed yet (a project's first calls: not in any rollup yet)."""
        with self._lock:
            return {p for p, _ in self._pending | self._in_flight}

    def __len__(self) -> int:
        return len(self._pending)
