"""Scores and feedback: a value (numeric or label) linked to a trace, span or request id.

A request id is the id tokentrail returns for a call (the LLM span's id, 16 hex chars,
e.g. the gateway's ``X-Tokentrail-Request-Id``); the score is linked to that span and its trace
(``link``): when the span is not stored yet (the gateway and the inserter batch for a moment), the
server waits for what it has acknowledged (up to ``GRACE_SECONDS``); an id that still names no span
is refused (404), never "accepted" into nowhere. A score stored with only a span id still shows on its
trace once the span arrives (``query/scores.py`` joins on the span id).
Scores are written by a completed insert before the request is acknowledged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, Field, ValidationError, model_validator

from tokentrail.query.scores import traces_of_spans
from tokentrail.storage.backend import Store

GRACE_SECONDS = 5.0


class ScoreIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    trace_id: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{32}$")
    span_id: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{16}$")
    request_id: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{16}$")
    value: float | None = None
    label: str = Field(default="", max_length=1000)
    comment: str = Field(default="", max_length=10000)
    source: str = Field(default="api", max_length=50)
    user_id: str = ""
    score_id: str | None = Field(default=None, max_length=100)
    timestamp: datetime | None = None

    @model_validator(mode="after")
    def _linked(self) -> ScoreIn:
        if not (self.trace_id or self.span_id or self.request_id):
            raise ValueError("a score needs trace_id, span_id or request_id")
        if self.value is None and not self.label:
            raise ValueError("a score needs a numeric value or a label")
        return self


def parse_scores(items: list[Any]) -> tuple[list[ScoreIn], list[dict[str, Any]]]:
    good, problems = [], []
    for i, raw in enumerate(items):
        try:
            good.append(ScoreIn.model_validate(raw))
        except ValidationError as e:
            problems.append({"index": i, "error": "; ".join(
                f"{'.'.join(str(x) for x in err['loc']) or 'score'}: {err['msg']}" for err in e.errors()[:5])})
    return good, problems


def link(store: Store, project: str, items: list[ScoreIn],
         wait: Callable[[float], object] | None = None) -> list[int]:
    """Fill the trace id of scores given only a span or request id, from the stored span. With ``wait``
    (HTTP), spans still on their way are waited for (``wait(GRACE_SECONDS)``) and the indexes of the
    scores whose id names no span are returned; without it (batch files), such scores keep their span id."""
    pending = [i for i, s in enumerate(items) if not s.trace_id]
    if not pending:
        return []
    ids = [(items[i].span_id or items[i].request_id or "").lower() for i in pending]
    found = traces_of_spans(store, project, ids)
    if wait is not None and any(x not in found for x in ids):
        wait(GRACE_SECONDS)
        found = traces_of_spans(store, project, ids)
    unknown = []
    for i, span in zip(pending, ids, strict=True):
        if span in found:
            items[i].trace_id = found[span]
            items[i].span_id = span
        elif wait is not None:
            unknown.append(i)
    return unknown


def write_scores(store: Store, project: str, scores: list[ScoreIn]) -> list[str]:
    """Insert ``scores``; return their ids (given ones are kept, so a re-sent score dedupes)."""
    if not scores:
        return []
    now = datetime.now(UTC)
    ids = [s.score_id or uuid.uuid4().hex for s in scores]
    table = pa.table({
        "project": [project] * len(scores),
        "score_id": ids,
        "trace_id": [(s.trace_id or "").lower() for s in scores],
        "span_id": [(s.span_id or s.request_id or "").lower() for s in scores],
        "name": [s.name for s in scores],
        "value": pa.array([s.value for s in scores], pa.float64()),
        "label": [s.label for s in scores],
        "source": [s.source for s in scores],
        "comment": [s.comment for s in scores],
        "user_id": [s.user_id for s in scores],
        "timestamp": pa.array([s.timestamp or now for s in scores], pa.timestamp("ms", tz="UTC")),
        "ingested_at": pa.array([now] * len(scores), pa.timestamp("ms", tz="UTC")),
    })
    store.insert_arrow("scores", table)
    return ids
