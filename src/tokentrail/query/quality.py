"""Quality signals: feedback and scores, schema validity, cache hits, output length, PII redactions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from tokentrail.ingest import finish
from tokentrail.query import scores
from tokentrail.query.filters import DIMENSIONS, Filters, array_param
from tokentrail.storage.backend import Store
from tokentrail.storage.rollup_tables import OUTPUT_BUCKETS


def output_length(store: Store, f: Filters) -> list[dict[str, Any]]:
    """How many successful LLM calls produced up to N output tokens, per bucket (raw spans for
    about a day, the rollups' output buckets beyond)."""
    edges = [0, *OUTPUT_BUCKETS]
    if f.use_rollup():
        where, params = f.where(rollup=True)
        row = store.query(f"SELECT sumForEach(output_buckets) AS b FROM {f.rollup_source(store.database)} "
                          f"WHERE {where} AND length(output_buckets) > 0", params)[0]
        counts = list(row["b"] or []) or [0] * (len(edges) + 1)
    else:
        where, params = f.where()
        ranges = ", ".join(f"countIf(output_tokens > {lo} AND output_tokens <= {hi})"
                           for lo, hi in zip(edges[:-1], edges[1:], strict=True))
        row = store.query(f"""
            SELECT [countIf(output_tokens = 0), {ranges}, countIf(output_tokens > {OUTPUT_BUCKETS[-1]})] AS b
            FROM {f.span_source(store.database)} WHERE {where} AND status = 'ok' AND kind = 'llm'""", params)[0]
        counts = list(row["b"])
    labels = ["0", *(f"{lo + 1}-{hi}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)),
              f">{OUTPUT_BUCKETS[-1]}"]
    return [{"label": label, "count": int(c)} for label, c in zip(labels, counts, strict=True)]


def finish_reasons(store: Store, f: Filters) -> list[dict[str, Any]]:
    """LLM calls per canonical finish reason (ingest/finish.py): how many stopped, were cut by the token
    limit, asked for tools, were filtered or failed (raw spans for about a day, the rollups beyond)."""
    labels = [*finish.CANONICAL, "none"]
    if f.use_rollup():
        where, params = f.where(rollup=True)
        row = store.query(f"SELECT sumForEach(finish_counts) AS b FROM {f.rollup_source(store.database)} "
                          f"WHERE {where} AND length(finish_counts) > 0", params)[0]
        counts = list(row["b"] or []) or [0] * len(labels)
    else:
        where, params = f.where()
        # ``finish``: the canonical reason (ingest/finish.py ``sql()``), a column of both spans sources
        parts = ", ".join(f"countIf(finish = '{c}')" for c in finish.CANONICAL)
        row = store.query(f"SELECT [{parts}, countIf(finish = '')] AS b FROM {f.span_source(store.database)} "
                          f"WHERE {where} AND kind = 'llm'", params)[0]
        counts = list(row["b"])
    return [{"finish": label, "count": int(c)} for label, c in zip(labels, counts, strict=True)]


REDACTED_GROUPED_MAX = 50_000  # stored spans (versions included) with redaction counts read by grouping them


def redactions(store: Store, f: Filters) -> list[dict[str, Any]]:
    """PII values redacted before storage, per type (``<EMAIL>``, ``<CARD>`` ...): how many values and on
    how many spans, from each span's ``tokentrail.redacted`` attribute (``privacy/walk.py``)."""
    where, params = f.where(llm_only=False)
    db = store.database
    source = f"{db}.spans FINAL WHERE {where} AND redacted != ''"
    # The newest version of each span with counts, by grouping those spans only, where FINAL merges every span
    # of the range (a span's counts never change between its versions: the double-count check keeps its
    # attributes). Few spans hold PII in most apps (and a person has few spans): when a cheap count (the column
    # alone) finds few, they are grouped (10M calls, 30 days, none: 94 -> 4 ms; a user: 538 -> 27 ms); many are
    # merged by FINAL (a third of the month's spans: 262 ms FINAL, 784 grouped), a big customer's included.
    if int(store.query(f"SELECT count() AS n FROM {db}.spans WHERE {where} AND redacted != ''",
                       params)[0]["n"]) <= REDACTED_GROUPED_MAX:
        source = (f"(SELECT argMax(s.redacted, s.ingested_at) AS redacted FROM {db}.spans AS s "
                  f"WHERE {where} AND s.redacted != '' GROUP BY s.trace_id, s.span_id)")
    return store.query(f"""
        SELECT t.1 AS type, sum(t.2) AS values, count() AS spans
        FROM (
            SELECT arrayJoin(arrayMap(x -> (splitByChar(':', x)[1], toUInt64OrZero(splitByChar(':', x)[2])),
                                      splitByChar(',', redacted))) AS t
            FROM {source}
        )
        WHERE t.1 != ''
        GROUP BY type ORDER BY values DESC, type""", params)


NEGATIVE_LABELS = "down|bad|wrong|fail|negative|incorrect|unhelpful"
# a low score, over rows with ``top`` (the highest value of its name in the range)
_LOW = (f"(match(lower(label), '{NEGATIVE_LABELS}') OR "
        "(value IS NOT NULL AND if(top > 0, value < top / 2, value <= 0)))")

Lows = list[dict[str, Any]]  # per score name: its highest value in the range ("top") and its low scores ("low")


def score_panels(store: Store, f: Filters, step: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Lows]:
    """The feedback (per score name: how many, the mean of numeric values, the count of each label), the score
    trend (per interval of ``step`` seconds and name: how many, the mean) and what ``low_scores`` first needs
    (each name's highest value and low scores), from ONE pass over the range's scores (each query of a range
    groups every score's versions again, and the quality page asks all three). Scores follow the range and a
    user, customer or session filter (``scores.in_range``); they carry no route or model. Under a person filter
    the scores are the person's but the low scores' scale is the project's (a user who only gave 2 of 5 still
    gave low ratings): each name's highest value comes from a narrow pass over the project's scores of the
    range. Sums per interval and name, added up per name."""
    source, params = scores.in_range(store, f, ("name", "value", "label", "timestamp"))
    if f.by_person():
        project, more = scores.in_range(store, f, ("name", "value"), people=False)  # same parameters, no person
        source = (f"(SELECT p.*, t.top FROM {source} AS p LEFT JOIN (SELECT name, ifNull(max(value), 0) AS top "
                  f"FROM {project} GROUP BY name) AS t ON p.name = t.name)")
        params.update(more)
    else:
        source = f"(SELECT *, max(value) OVER (PARTITION BY name) AS top FROM {source})"
    rows = store.query(f"""
        SELECT toStartOfInterval(timestamp, INTERVAL {int(step)} SECOND) AS t, name, count() AS count,
               sum(value) AS value_sum, count(value) AS valued, countIf(value > 0) AS positive,
               countIf(value <= 0) AS non_positive, sumMapIf(map(label, toUInt64(1)), label != '') AS labels,
               ifNull(any(top), 0) AS name_top, countIf({_LOW}) AS low
        FROM {source}
        GROUP BY t, name ORDER BY t, name""", params)
    by_name: dict[str, dict[str, Any]] = {}
    trend = []
    for r in rows:
        valued = int(r["valued"])
        trend.append({"t": r["t"], "name": r["name"], "count": int(r["count"]),
                      "mean": round(r["value_sum"] / valued, 4) if valued else None})
        n = by_name.setdefault(r["name"], {"name": r["name"], "count": 0, "value_sum": 0.0, "valued": 0,
                                           "positive": 0, "non_positive": 0, "labels": {}, "top": 0.0, "low": 0})
        n["count"] += int(r["count"])
        n["value_sum"] += r["value_sum"] or 0.0
        n["valued"] += valued
        n["positive"] += int(r["positive"])
        n["non_positive"] += int(r["non_positive"])
        for label, k in (r["labels"] or {}).items():
            n["labels"][label] = n["labels"].get(label, 0) + int(k)
        n["top"], n["low"] = float(r["name_top"]), n["low"] + int(r["low"])
    feedback = []
    for n in by_name.values():
        n["mean"] = round(n["value_sum"] / n["valued"], 4) if n["valued"] else None
        feedback.append({k: n[k] for k in ("name", "count", "mean", "positive", "non_positive", "labels")})
    feedback.sort(key=lambda n: (-n["count"], n["name"]))
    return feedback, trend, [{"name": n["name"], "top": n["top"], "low": n["low"]} for n in by_name.values()]


def low_scores(store: Store, f: Filters, limit: int = 20, lows: Lows | None = None) -> dict[str, Any]:
    """The most recent low scores of the range, each with its trace (to go from feedback to traces).

    Low: a label such as thumbs-down / bad / wrong / fail, or a value under half the highest value
    of its score name in the range (0 of a 0/1 thumb, -1 of -1/1, 1-2 of a 1-5 rating, 0.4 of a
    0..1 eval); when a name has no positive value yet, any value <= 0. The highest value is the project's
    (under a user filter, a user who only gave 2 of 5 still gave low ratings). Scores sent with only a span
    or request id get their trace from the stored span. ``lows``: each name's highest value and low scores in
    the range, when known (``score_panels``)."""
    person, more = scores.person_traces(store, f)
    # 1. each name's highest value in the range, and how many low scores the range holds (of the person's traces
    #    under a person filter): the score panels' pass, whose totals do not depend on its intervals
    names = lows if lows is not None else score_panels(store, f, 86400)[2]
    total = sum(int(r["low"]) for r in names)
    # 2. the newest of them: the last day first (where they nearly always are), the range if need be
    rows: list[dict[str, Any]] = []
    for days in (1, 7, None):
        if not total:
            break
        since = f.since if days is None else f.end - timedelta(days=days)
        g = f if since <= f.since else replace(f, since=since)
        source, params = scores.in_range(store, g, people=False)
        rows = store.query(f"""
            SELECT score_id, trace_id, span_id, name, value, label, source, comment, user_id, timestamp
            FROM (SELECT *, transform(name, {{lo_names:Array(String)}}, {{lo_tops:Array(Float64)}}, 0.) AS top
                  FROM {source})
            WHERE {_LOW} AND {person}
            ORDER BY timestamp DESC, score_id LIMIT {int(limit)}""",
                           {**params, **more, "lo_names": array_param([r["name"] for r in names]),
                            "lo_tops": "[" + ",".join(repr(float(r["top"])) for r in names) + "]"})
        if len(rows) >= min(limit, total) or g is f:
            break
    orphans = [r["span_id"] for r in rows if not r["trace_id"] and r["span_id"]]
    if orphans:
        found = scores.traces_of_spans(store, f.project, orphans)
        for r in rows:
            if not r["trace_id"]:
                r["trace_id"] = found.get(r["span_id"], "")
    return {"rows": rows, "total": total}


# the filter bar's drop-downs (the UI's app.js) and provider (the alert form's choices)
LISTED = ("route", "model", "provider", "environment", "release", "error_type")


def filter_values(store: Store, f: Filters) -> dict[str, list[str]]:
    """Values seen in the range, for the filter drop-downs: each list narrowed by every OTHER filter in
    force (with route=checkout, the models checkout used; the route list still offers every route those
    other filters allow, so the choice can be changed). One query: the filters that are not lists (user,
    status, tag ...) narrow every row; each list's own condition holds the listed filters but its own.
    From the rollups when the filters allow (any range), else from the spans (a user, customer, session
    ... filter: spans_by_user)."""
    shared = Filters(project=f.project, since=f.since, until=f.until, pending=f.pending, stale_days=f.stale_days,
                     equals={k: v for k, v in f.equals.items() if k not in LISTED})
    rollup = shared.rollup_possible()
    if rollup:
        dims = ("route", "model", "release")
        where, params = shared.where(rollup=True, llm_only=False, dims=dims)
        source = shared.rollup_source(store.database, dims)
    else:
        where, params = shared.where(llm_only=False)
        source = shared.span_source(store.database, llm_only=False)
    conds: dict[str, str] = {}
    for i, (name, value) in enumerate(sorted((k, v) for k, v in f.equals.items() if k in LISTED)):
        params[f"lv{i}"] = value
        conds[name] = f"{DIMENSIONS[name][1 if rollup else 0]} = {{lv{i}:String}}"
    # aliases get a prefix: one named like a column would shadow it in the WHERE clause (model_family's
    # condition reads the rollups' ``model``, which ``AS model`` would turn into this array)
    picks = []
    for name in LISTED:
        col = DIMENSIONS[name][1 if rollup else 0]
        others = "".join(f" AND {c}" for k, c in conds.items() if k != name)
        picks.append(f"groupUniqArrayIf({col}, {col} != ''{others}) AS v_{name}")
    row = store.query(f"SELECT {', '.join(picks)} FROM {source} WHERE {where}", params)[0]
    return {k.removeprefix("v_"): sorted(v) for k, v in row.items()}
