"""Sink to the server: OTLP/HTTP protobuf to ENDPOINT/v1/traces, scores to ENDPOINT/api/scores.

Runs only in the export thread. A batch is sent once encoded; on 429/502/503/504 or a
network error it waits (exponential backoff with jitter, Retry-After honoured, at most
``max_backoff_seconds``) and is retried, oldest first, for as long as it fits in memory
(``memory_mb``) or in the optional disk spool. Other 5xx are retried the same way for up to
``SERVER_ERROR_GIVE_UP_SECONDS`` (a server in trouble, e.g. a full disk, recovers), then the batch is
dropped and counted (a batch the server can never take must not block the others for ever); 4xx (bad
data) are not retried. Nothing is dropped silently.
"""

from __future__ import annotations

import gzip
import json
import random
import time
from collections import deque
from typing import Any

import httpx

from tokentrail.sdk._encode import encode_span, otlp_request, resource_attributes
from tokentrail.sdk._export import Counters
from tokentrail.sdk._spool import DiskSpool

RETRY_STATUSES = {408, 429, 502, 503, 504}
SERVER_ERROR_GIVE_UP_SECONDS = 600.0  # how long a batch answered 500 is retried before it is dropped
GZIP_MAGIC = b"\x1f\x8b"
OK, RETRY, GIVE_UP = "ok", "retry", "give_up"


class OtlpSink:
    def __init__(self, config: Any) -> None:
        self.counters = Counters()
        self.config = config
        self.traces_url = config.endpoint + "/v1/traces"
        self.scores_url = config.endpoint + "/api/scores"
        self.headers = config.export_headers()
        self.resource = resource_attributes(config)
        self.memory: deque[tuple[bytes, int]] = deque()
        self.memory_bytes = 0
        self.memory_limit = int(config.memory_mb * 1024 * 1024)
        self.spool = (DiskSpool(config.spool_dir, config.project, int(config.spool_max_mb * 1024 * 1024))
                      if config.spool_dir else None)
        self.score_backlog: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.failures = 0
        self.head_failing_since: float | None = None  # the first 5xx answer to the batch at the head
        self.next_try = 0.0
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.config.timeout_seconds)
        return self._client

    # -- intake

    encode = staticmethod(encode_span)

    def add(self, spans: list[bytes]) -> None:
        body = otlp_request(spans, self.resource)
        if self.config.compression == "gzip":  # in the export thread; zlib releases the GIL
            body = gzip.compress(body, compresslevel=1)
        if self.spool is not None and (self.failures or len(self.spool)):
            if self._to_spool(body, len(spans)):  # keep the order: the spool holds older batches
                return
        self.memory.append((body, len(spans)))
        self.memory_bytes += len(body)
        while self.memory_bytes > self.memory_limit and len(self.memory) > 1:
            old, n = self.memory.popleft()
            self.memory_bytes -= len(old)
            self.counters.spans_dropped_memory += n

    def add_scores(self, scores: list[dict[str, Any]]) -> None:
        before = len(self.score_backlog) + len(scores)
        self.score_backlog.extend(scores)
        self.counters.scores_dropped += max(0, before - len(self.score_backlog))

    # -- sending

    def wait_seconds(self, default: float) -> float:
        if self.failures:
            return max(0.01, min(default, self.next_try - time.monotonic()))
        return default

    def pump(self, force: bool = False) -> None:
        if not force and self.failures and time.monotonic() < self.next_try:
            return
        while True:
            head = self._head()
            if head is None:
                break
            key, body, spans = head
            outcome, retry_after = self._post(self.traces_url, body, spans)
            if outcome == RETRY:
                self._backoff(retry_after)
                return
            self._pop(key)
            self.failures = 0
            self.head_failing_since = None
        self._send_scores()

    def _head(self) -> tuple[Any, bytes, int] | None:
        if self.spool is not None and len(self.spool):
            peeked = self.spool.peek()
            if peeked is not None:
                return peeked
        if self.memory:
            body, spans = self.memory[0]
            return None, body, spans
        return None

    def _pop(self, key: Any) -> None:
        if key is not None and self.spool is not None:
            self.spool.remove(key)
        else:
            body, _ = self.memory.popleft()
            self.memory_bytes -= len(body)

    def _backoff(self, retry_after: float | None) -> None:
        self.failures += 1
        delay = min(self.config.max_backoff_seconds, 0.25 * 2 ** min(self.failures, 16)) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = min(self.config.max_backoff_seconds, max(delay, retry_after))
        self.next_try = time.monotonic() + delay
        if self.spool is not None:  # the server is down: move what waits in memory to disk
            self._spill()

    def _spill(self) -> None:
        while self.memory:
            body, spans = self.memory[0]
            if not self._to_spool(body, spans):
                return  # the disk refuses: the rest stays in memory (bounded by memory_mb)
            self.memory.popleft()
            self.memory_bytes -= len(body)

    def _to_spool(self, body: bytes, spans: int) -> bool:
        assert self.spool is not None
        try:
            self.spool.put(body, spans)
            return True
        except OSError as e:
            self.counters.last_export_error = f"spool: {type(e).__name__}: {e}"
            return False

    def _post(self, url: str, body: bytes, spans: int) -> tuple[str, float | None]:
        c = self.counters
        c.export_requests += 1
        try:
            # per body: a spool written before a compression change holds the other kind
            headers = {**self.headers, "content-encoding": "gzip"} if body[:2] == GZIP_MAGIC else self.headers
            r = self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as e:
            c.export_failures += 1
            c.last_export_error = f"{type(e).__name__}: {e}"
            return RETRY, None
        if r.status_code < 300:
            rejected = min(spans, _partial_success(r))  # OTLP partial success: 200 with the refused count
            c.spans_exported += spans - rejected
            c.spans_rejected += rejected
            if rejected:
                c.last_export_error = f"{rejected} span(s) rejected by the server"
            return OK, None
        c.export_failures += 1
        c.last_export_error = f"HTTP {r.status_code}: {r.text[:300]}"
        if r.status_code in RETRY_STATUSES:
            return RETRY, _retry_after(r)
        if r.status_code >= 500:
            now = time.monotonic()
            if self.head_failing_since is None:
                self.head_failing_since = now
            if now - self.head_failing_since < SERVER_ERROR_GIVE_UP_SECONDS:
                return RETRY, _retry_after(r)
            c.spans_failed += spans
            return GIVE_UP, None
        rejected, accepted = _partial(r, spans)
        c.spans_rejected += rejected
        c.spans_exported += accepted
        return GIVE_UP, None

    def _send_scores(self) -> None:
        if not self.score_backlog:
            return
        batch = list(self.score_backlog)
        headers = {**self.headers, "content-type": "application/json"}
        try:
            r = self.client.post(self.scores_url, content=json.dumps(batch).encode(), headers=headers)
        except httpx.HTTPError as e:
            self.counters.last_export_error = f"scores: {type(e).__name__}: {e}"
            self._backoff(None)
            return
        if r.status_code in RETRY_STATUSES or r.status_code >= 500:
            self.counters.last_export_error = f"scores: HTTP {r.status_code}"
            self._backoff(_retry_after(r))
            return
        for _ in batch:
            self.score_backlog.popleft()
        if r.status_code >= 300:
            rejected = len(batch)
            try:
                rejected = int(r.json().get("rejected", rejected))
            except ValueError:
                pass
            self.counters.scores_dropped += rejected
            self.counters.scores_sent += len(batch) - rejected
            self.counters.last_export_error = f"scores: HTTP {r.status_code}: {r.text[:300]}"
        else:
            self.counters.scores_sent += len(batch)

    # -- state

    def idle(self) -> bool:
        return not self.memory and not (self.spool is not None and len(self.spool)) and not self.score_backlog

    def state(self) -> dict[str, Any]:
        return {
            "spans_in_memory": sum(n for _, n in list(self.memory)),
            "bytes_in_memory": self.memory_bytes,
            "spans_spooled": self.spool.spans if self.spool is not None else 0,
            "spans_dropped_spool": self.spool.dropped_spans if self.spool is not None else 0,
            "server_reachable": self.failures == 0,
        }

    def close(self) -> None:
        if self.spool is not None:
            self._spill()
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _retry_after(r: httpx.Response) -> float | None:
    value = r.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _partial_success(r: httpx.Response) -> int:
    """``partial_success.rejected_spans`` of an OTLP success answer (JSON, or protobuf read by hand:
    field 1 holds a message whose field 1 is the varint count); 0 when absent."""
    body = r.content
    if not body:
        return 0
    if body[:1] == b"{":
        try:
            return int(json.loads(body).get("partialSuccess", {}).get("rejectedSpans", 0))
        except (ValueError, AttributeError, TypeError):
            return 0
    if body[:1] != b"\x0a":  # partial_success: field 1, length-delimited
        return 0
    _, at = _varint(body, 1)  # its length
    if body[at:at + 1] != b"\x08":  # rejected_spans: field 1, varint (absent when 0)
        return 0
    return _varint(body, at + 1)[0]


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    for i in range(at, min(len(data), at + 10)):
        value |= (data[i] & 0x7F) << shift
        shift += 7
        if not data[i] & 0x80:
            return value, i + 1
    return 0, len(data)


def _partial(r: httpx.Response, spans: int) -> tuple[int, int]:
    """(rejected, accepted) of a 4xx answer: the server stores the good spans of a partly bad batch."""
    try:
        doc = r.json()
        rejected = int(doc.get("rejected_spans", spans))
        return rejected, int(doc.get("accepted_spans", spans - rejected))
    except (ValueError, AttributeError, TypeError):
        return spans, 0
