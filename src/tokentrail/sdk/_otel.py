"""``app_spans=True``: the app's own OpenTelemetry spans go to tokentrail too, through the same exporter.

tokentrail's LLM and observed spans never need an OTel SDK (they only read the OTel
context). This option is for seeing the app's HTTP request span (and its other spans)
around them in tokentrail: a span processor is added to the app's SDK TracerProvider,
or, when the app has none, an SDK TracerProvider is created and registered.
"""

from __future__ import annotations

from typing import Any

from tokentrail.sdk import _state
from tokentrail.sdk._records import Recorded, SpanOut


class AppSpan(Recorded):
    __slots__ = ("readable",)

    def span(self, policy: Any) -> SpanOut:
        s = self.readable
        sc = s.get_span_context()
        parent = s.parent.span_id if s.parent is not None else 0
        attrs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in (s.attributes or {}).items()}
        attrs.setdefault("tokentrail.kind", "other")
        for k, v in (s.resource.attributes if s.resource is not None else {}).items():
            if k.startswith("service.") or k.startswith("deployment."):
                attrs.setdefault(k, v)
        return SpanOut(sc.trace_id, sc.span_id, parent, s.name, int(s.kind.value) + 1, s.start_time or 0,
                       s.end_time or s.start_time or 0, int(s.status.status_code.value),
                       s.status.description or "", attrs)


class _Processor:
    """A SpanProcessor handing each ended span to tokentrail's export queue (cost on end: one append)."""

    def __init__(self) -> None:
        self.active = True

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: Any) -> None:
        exporter = _state.STATE.exporter
        if not self.active or exporter is None:
            return
        record = AppSpan()
        record.readable = span
        exporter.submit(record)

    def _on_ending(self, span: Any) -> None:
        pass

    def shutdown(self) -> None:
        self.active = False

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def detach(self) -> None:
        self.active = False


def export_app_spans(provider: Any = None) -> _Processor:
    """Add our processor to ``provider``, else to the global TracerProvider (installing one if there is none)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    if provider is None:
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            trace.set_tracer_provider(TracerProvider())
            provider = trace.get_tracer_provider()
    processor = _Processor()
    if hasattr(provider, "add_span_processor"):
        provider.add_span_processor(processor)
    return processor
