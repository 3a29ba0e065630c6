"""Quality signals: feedback and scores, schema validity, cache hits, output length."""

from __future__ import annotations

from typing import Any

from tokentrail.query.filters import Filters
from tokentrail.storage.backend import Store

OUTPUT_BUCKETS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def output_length(store: Store, f: Filters) -> list[dict[str, Any]]:
    """How many successful LLM calls produced up to N output tokens, per bucket."""
    where, params = f.where()
    edges = [0, *OUTPUT_BUCKETS]
    counts = ", ".join(f"countIf(output_tokens > {lo} AND output_tokens <= {hi}) AS b{i}"
                       for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)))
    row = store.query(f"""
        SELECT countIf(output_tokens = 0) AS zero, {counts}, countIf(output_tokens > {OUTPUT_BUCKETS[-1]}) AS over
        FROM {store.database}.spans FINAL WHERE {where} AND status = 'ok' AND kind = 'llm'""", params)[0]
    out = [{"label": "0", "count": row["zero"]}]
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        out.append({"label": f"{lo + 1}-{hi}", "count": row[f"b{i}"]})
    out.append({"label": f">{OUTPUT_BUCKETS[-1]}", "count": row["over"]})
    return out


def _score_range(f: Filters) -> dict[str, Any]:
    return {"project": f.project, "since": f.since.replace(tzinfo=None).isoformat(sep=" "),
            "until": f.end.replace(tzinfo=None).isoformat(sep=" ")}


def feedback(store: Store, f: Filters) -> list[dict[str, Any]]:
    """Per score name: how many, the mean of numeric values, and the count of each label.
    Scores are filtered by project and time only (they carry no route or model)."""
    params = _score_range(f)
    return store.query(f"""
        SELECT name, count() AS count, round(avgOrNull(value), 4) AS mean,
               countIf(value > 0) AS positive, countIf(value <= 0) AS non_positive,
               sumMapIf(map(label, toUInt64(1)), label != '') AS labels
        FROM {store.database}.scores FINAL
        WHERE project = {{project:String}} AND timestamp >= {{since:DateTime64(6)}}
          AND timestamp < {{until:DateTime64(6)}}
        GROUP BY name ORDER BY count DESC""", params)


def scores_over_time(store: Store, f: Filters, step: int) -> list[dict[str, Any]]:
    params = _score_range(f)
    return store.query(f"""
        SELECT toStartOfInterval(timestamp, INTERVAL {int(step)} SECOND) AS t, name, count() AS count,
               round(avgOrNull(value), 4) AS mean
        FROM {store.database}.scores FINAL
        WHERE project = {{project:String}} AND timestamp >= {{since:DateTime64(6)}}
          AND timestamp < {{until:DateTime64(6)}}
        GROUP BY t, name ORDER BY t""", params)


def filter_values(store: Store, f: Filters) -> dict[str, list[str]]:
    """Values seen in the range, for the filter drop-downs."""
    g = f.unfiltered()
    where, params = g.where(rollup=True, llm_only=False)
    row = store.query(f"""
        SELECT groupUniqArrayIf(route, route != '') AS route, groupUniqArrayIf(model, model != '') AS model,
               groupUniqArrayIf(provider, provider != '') AS provider,
               groupUniqArrayIf(environment, environment != '') AS environment,
               groupUniqArrayIf(release, release != '') AS release
        FROM {store.database}.{g.rollup_table()} FINAL WHERE {where}""", params)[0]
    return {k: sorted(v) for k, v in row.items()}
