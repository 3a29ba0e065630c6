"""Finished calls -> spans -> the write-ahead spool, in batches, off the request path.

The request path only appends a ``Call`` (raw bytes and timings) to a bounded buffer. A
thread wakes ``interval`` seconds after the first buffered call (or as soon as ``batch`` calls
wait; with nothing buffered it sleeps), parses the bodies, builds one OTLP request per project and
appends it to the spool, where it is durable. So a call is durable at most ~``interval`` after its response ended; a crash in
that window loses it (a graceful stop flushes). Calls that do not fit the buffer (count or
bytes), or that the spool refuses (backlog full), are dropped and counted per project in
``ingest_events`` (kind ``gateway_dropped``); ``stats`` has the totals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tokentrail.errors import Overloaded
from tokentrail.gateway.call import Call
from tokentrail.gateway.otlp import encode_request
from tokentrail.gateway.spans import build_span
from tokentrail.ingest import wire
from tokentrail.privacy.ingest import scrubber
from tokentrail.server.runtime import Runtime

log = logging.getLogger("tokentrail.gateway")


@dataclass
class RecorderStats:
    recorded: int = 0
    dropped: int = 0
    spool_appends: int = 0


class Recorder:
    def __init__(self, runtime: Runtime, capture: str, *, interval: float = 0.1, batch: int = 256,
                 max_calls: int = 10_000, max_bytes: int = 128 << 20) -> None:
        self.runtime = runtime
        self.capture = capture
        self.interval = interval
        self.batch = batch
        self.max_calls = max_calls
        self.max_bytes = max_bytes
        self.stats = RecorderStats()
        self._pending: deque[Call] = deque()
        self._bytes_in = 0  # written by the event loop only
        self._bytes_out = 0  # written by the recorder only
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tokentrail-gateway-recorder", daemon=True)

    # -- request path (event loop) ---------------------------------------------
    def add(self, call: Call) -> None:
        size = call.size()
        if self._stop.is_set():
            self._drop(call.project, "gateway stopped")
            return
        if len(self._pending) >= self.max_calls or self._bytes_in - self._bytes_out + size > self.max_bytes:
            self._drop(call.project, "gateway buffer full")
            return
        self._bytes_in += size
        self._pending.append(call)
        n = len(self._pending)
        if n == 1 or n == self.batch:  # the first call starts the recorder's interval; a full batch ends it
            self._wake.set()

    def _drop(self, project: str, reason: str, count: int = 1) -> None:
        self.stats.dropped += count
        self.runtime.counters.refused(project, "gateway_dropped", reason, count)

    # -- recorder thread ---------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Record everything buffered, then stop (call before the spool closes)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._pending:  # idle: sleep until a call comes (an idle gateway costs nothing)
                self._wake.wait(1.0)
                self._wake.clear()
                if not self._pending:
                    continue
            self._wake.wait(self.interval)  # the calls of the next interval join (a full batch wakes it)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the thread must survive anything; what was taken is counted as dropped
                log.exception("gateway recorder round failed")

    def flush(self) -> int:
        """Spool every buffered call now; return how many were recorded."""
        done = 0
        while self._pending:
            done += self._flush_some()
        return done

    def _flush_some(self, limit: int = 1024) -> int:
        calls: list[Call] = []
        while self._pending and len(calls) < limit:
            call = self._pending.popleft()
            self._bytes_out += call.size()
            calls.append(call)
        by_project: dict[str, list[bytes]] = {}
        # the policy in force; its gateway rule defaults to the setting gateway_capture (``self.capture``)
        policy = scrubber(self.runtime.store, self.runtime.settings, "", "gateway").policy
        for call in calls:
            try:
                by_project.setdefault(call.project, []).append(build_span(call, policy))
            except Exception as e:  # a body we cannot read must not cost the other calls
                log.exception("gateway: could not record call %s", call.span_hex)
                self._drop(call.project, f"gateway could not encode the call: {e}")
            time.sleep(0)  # let the event loop thread take the GIL between calls
        for project, spans in by_project.items():
            self._spool(project, spans)
        return sum(len(s) for s in by_project.values())

    def _spool(self, project: str, spans: list[bytes]) -> None:
        payload = self._redacted(project, encode_request(spans, "tokentrail.gateway"))
        record = wire.envelope(payload, project, "gateway", time.time_ns())
        try:
            self.runtime.spool.append(record)
        except Overloaded as e:
            self._drop(project, f"spool refused the calls: {e.message}", len(spans))
            return
        self.stats.recorded += len(spans)
        self.stats.spool_appends += 1
        self.runtime.counters.accepted_spans += len(spans)

    def _redacted(self, project: str, payload: bytes) -> bytes:
        """The spans with PII redacted (prompt, reply, error message, context headers) before they are
        spooled; the capture policy was applied when each span was built."""
        scrub = scrubber(self.runtime.store, self.runtime.settings, project, "gateway")
        if scrub.redactor is None:
            return payload
        scrub.policy = None
        req = ExportTraceServiceRequest.FromString(payload)
        scrub.request(req)
        return req.SerializeToString()
