"""Everything the work after an insert needs to know about its rows, read in ONE query.

After each insert three followers need a look at the rows it added: the rollups (which minutes of which
project it touched), Prometheus ``/metrics`` (sums and histograms by the bounded label set) and the
double-count check (``dedupe.py``: the start-time window of its LLM spans, and whether any of them can
pair at all: a gateway call alone in its trace cannot, and then the check's four queries are skipped). Each
query on the store has a fixed cost of its own, which a small batch pays in full, so they share one
pass: rows grouped by project, minute and the metric labels, from which each follower takes its part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tokentrail.ingest.dedupe import candidates_sql
from tokentrail.query.ingest_metrics import LABELS, aggregate_columns
from tokentrail.query.rollups import MODEL, _ts
from tokentrail.storage.backend import Store

_LLM = "kind IN ('llm', 'embedding')"


@dataclass
class BatchSummary:
    version: datetime
    minutes: list[tuple[str, datetime]] = field(default_factory=list)  # (project, minute) touched
    metrics: list[dict[str, Any]] = field(default_factory=list)  # one row per label set (ingest_metrics)
    llm_spans: int = 0
    llm_lo: str = ""  # start-time bounds of the LLM spans (the double-count check's window)
    llm_hi: str = ""
    may_pair: bool = False  # the double-count check could find a pair (dedupe.candidates_sql)

    @property
    def dedupe_window(self) -> dict[str, str] | None:
        """The window ``dedupe.count_once_in`` reads (None: no LLM span, or none that can pair)."""
        if not self.llm_spans or not self.may_pair:
            return None
        return {"v": self.version.isoformat(sep=" ", timespec="milliseconds"), "lo": self.llm_lo, "hi": self.llm_hi}


def summarize(store: Store, version: datetime, candidates: bool = True) -> BatchSummary:
    """The rows stamped ``version``: touched minutes, metric aggregates and the LLM spans' window, and
    (``candidates``) whether any of them can pair; a loader that runs no double-count check skips that."""
    rows = store.query(f"""
        SELECT project, toStartOfMinute(start_time) AS minute, route, {MODEL} AS model, provider, kind, status,
               {aggregate_columns()},
               countIf({_LLM}) AS llm_spans,
               toString(minIf(start_time, {_LLM})) AS llm_lo, toString(maxIf(start_time, {_LLM})) AS llm_hi,
               {candidates_sql(store.database) if candidates else "1"} AS pair_candidates
        FROM {store.database}.spans
        WHERE ingested_at = {{v:DateTime64(3)}}
        GROUP BY project, minute, route, model, provider, kind, status""", {"v": _ts(version)})
    out = BatchSummary(version)
    minutes: set[tuple[str, datetime]] = set()
    by_labels: dict[tuple[str, ...], dict[str, Any]] = {}
    for r in rows:
        minutes.add((r["project"], datetime.fromisoformat(r["minute"])))
        out.may_pair = out.may_pair or int(r["pair_candidates"]) > 0
        if r["llm_spans"]:
            out.llm_lo = min(out.llm_lo, r["llm_lo"]) if out.llm_spans else r["llm_lo"]
            out.llm_hi = max(out.llm_hi, r["llm_hi"])
            out.llm_spans += int(r["llm_spans"])
        key = tuple(str(r[k]) for k in LABELS)
        row = {k: v for k, v in r.items() if k not in ("minute", "llm_spans", "llm_lo", "llm_hi", "pair_candidates")}
        seen = by_labels.get(key)
        if seen is None:
            by_labels[key] = row
            continue
        for k, v in row.items():  # the same labels in another minute: add up
            if k in LABELS:
                continue
            seen[k] = [int(a) + int(b) for a, b in zip(seen[k], v, strict=True)] if isinstance(v, list) else seen[k] + v
    out.minutes = sorted(minutes)
    out.metrics = list(by_labels.values())
    return out
