"""Redaction and the capture policy applied to parsed OTLP trace requests, before they are spooled.

One pass per span over its attributes, then its events, name and status message:

* every string value (arrays and key-value lists too) goes through the redactor, except the
  values of structural keys (model names, provider, operation, kind, finish reasons, SDK
  bookkeeping: ``SKIP_KEYS``) and values shorter than the shortest PII (``MIN_CHARS``);
* content keys (prompt/response: ``tokentrail.input``, ``gen_ai.prompt``, ``input.value``,
  ``llm.input_messages.*`` ... the same keys ``ingest/normalize.py`` reads content from) are
  kept only when the capture policy says so (``policy.Policy.decide``); the reason is set as
  ``tokentrail.capture_reason``; content not kept is deleted from the message, so it is never
  written to disk;
* a span with redactions gets ``tokentrail.redacted`` = ``TYPE:n,...`` (added to what the SDK
  counted), which lands in the span's ``attributes`` map and is counted on the quality page.

Resource attributes are redacted once per resource (not counted per span).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tokentrail.privacy import redact
from tokentrail.privacy.policy import Policy
from tokentrail.privacy.redact import REDACTED_KEY, Counts, Redactor, add_counts, format_counts, parse_counts

MIN_CHARS = 6  # shorter text holds no PII the built-in rules find (a@b.co); custom patterns lower it to 1
CAPTURE_FLAG_KEY = "tokentrail.capture"
REASON_KEY = "tokentrail.capture_reason"
SKIP_KEYS = frozenset({
    "gen_ai.request.model", "gen_ai.response.model", "gen_ai.system", "gen_ai.provider.name",
    "gen_ai.operation.name", "gen_ai.response.finish_reasons", "gen_ai.response.id", "tokentrail.kind",
    "tokentrail.source", "tokentrail.truncated", "tokentrail.usage_rule", "service.name", "service.version",
    "deployment.environment.name", "deployment.environment", "telemetry.sdk.name", "telemetry.sdk.language",
    "telemetry.sdk.version", "llm.model_name", "llm.request.model_name", "llm.provider", "llm.system",
    "embedding.model_name", "openinference.span.kind", "traceloop.span.kind", "error.type",
    "tokentrail.gateway.upstream", "otel.scope.name", "langfuse.observation.type",
    # numbers and flags (no text to redact; listed so the walk skips them without a type check)
    "gen_ai.request.temperature", "gen_ai.request.max_tokens", "gen_ai.request.top_p", "gen_ai.request.top_k",
    "gen_ai.request.seed", "gen_ai.request.frequency_penalty", "gen_ai.request.presence_penalty",
    "http.response.status_code", "tokentrail.ttft_ms", "tokentrail.streamed", "tokentrail.cache_hit",
    "tokentrail.schema_valid", "tokentrail.tokens_estimated", "tokentrail.gateway.truncated",
})
_FLAT_SKIP = frozenset({"model", "response_model", "provider", "kind", "status", "timestamp", "start_time",
                        "end_time", "trace_id", "span_id", "parent_span_id", "finish_reason", "attributes"})
_PLAIN, _SKIP, _CONTENT, _ROUTE, _FLAG, _REASON, _REDACTED, _ERROR, _PROJECT = range(9)


@cache
def _content_matcher() -> tuple[frozenset[str], re.Pattern[str], frozenset[str]]:
    from tokentrail.ingest.conventions import candidates, content_key_patterns

    keys = frozenset(k for column in ("input", "output") for k, _ in candidates(column))
    routes = frozenset(k for k, _ in candidates("route"))
    return keys, re.compile("|".join(content_key_patterns())), routes


@cache
def _content_pattern() -> str:
    """RE2 (``redact.matches``): a content key as it sits in a serialized span: a KeyValue's field 1
    (0x0a), the key's length, the key. The fast path (``Scrubber.request``) finds content with it
    without walking the attributes."""
    from tokentrail.ingest.conventions import content_key_patterns

    keys, _, _ = _content_matcher()
    literal = [rf"\x0a\x{len(k.encode()):02x}{re.escape(k)}" for k in sorted(keys) if len(k.encode()) < 128]
    # a pattern names a key prefix: the key's length is one varint byte (< 128) or more
    prefixes = [r"\x0a[\x80-\xff]*[\x00-\x7f]" + p.removeprefix("^").replace(r"\d", r"[0-9\x80-\xff]")
                for p in content_key_patterns()]
    return "|".join(literal + prefixes)


SCREEN_PROBE = 64  # spans screened before the walk decides whether screening the rest pays
# a span naming the client's capture flag or reason: its attributes' keys are read for them
SPECIAL_PATTERN = r"tokentrail\.capture"
_FAILED_BYTES = re.compile(rb"error\.type|http\.response\.status_code")

_KINDS: dict[str, int] = {}


def _kind(key: str) -> int:
    kind = _KINDS.get(key)
    if kind is not None:
        return kind
    content, pattern, routes = _content_matcher()
    if key in content or pattern.match(key):
        kind = _CONTENT
    elif key in routes:
        kind = _ROUTE
    elif key == CAPTURE_FLAG_KEY:
        kind = _FLAG
    elif key == REASON_KEY:
        kind = _REASON
    elif key == REDACTED_KEY:
        kind = _REDACTED
    elif key == "tokentrail.project":
        kind = _PROJECT
    elif key in SKIP_KEYS or key.startswith("gen_ai.usage."):
        kind = _SKIP
    else:
        kind = _PLAIN
    if len(_KINDS) < 100_000:  # keys are few; a flood of unique ones is not cached
        _KINDS[key] = kind
    return kind


def _failed(attrs: Any) -> bool:
    """An error type or an HTTP status >= 400 (``normalize.py`` counts such a span as an error too)."""
    for kv in attrs:
        if kv.key == "error.type" and kv.value.string_value:
            return True
        if kv.key == "http.response.status_code" and (kv.value.int_value >= 400 or
                                                      kv.value.string_value[:1] in ("4", "5")):
            return True
    return False


@dataclass
class Scrubber:
    """What one request's walk applies: the redactor (None: redaction off), the policy (None: every
    content value kept as sent), the request's project and source."""

    redactor: Redactor | None
    policy: Policy | None
    project: str = ""  # the request's project ("" = from the data, else the default)
    source: str = "otlp"
    default_project: str = "default"
    min_chars: int = MIN_CHARS
    totals: Counts = field(default_factory=dict)  # redactions of the whole request, per type
    dropped: int = 0  # spans whose content was not kept

    # -- values ----------------------------------------------------------------------------------------
    def text(self, s: str, counts: Counts) -> str:
        if self.redactor is None or len(s) < self.min_chars:
            return s
        new, c = self.redactor.redact(s)
        if c:
            add_counts(counts, c)
        return new

    def any_value(self, v: AnyValue, counts: Counts) -> None:
        s = v.string_value
        if s:
            if self.redactor is not None and len(s) >= self.min_chars:
                new, c = self.redactor.redact(s)
                if c:
                    v.string_value = new
                    add_counts(counts, c)
            return
        which = v.WhichOneof("value")
        if which == "array_value":
            for x in v.array_value.values:
                self.any_value(x, counts)
        elif which == "kvlist_value":
            for kv in v.kvlist_value.values:
                self.any_value(kv.value, counts)

    def obj(self, o: Any, counts: Counts) -> Any:
        """A JSON-like Python value with every string redacted (dict keys kept)."""
        if isinstance(o, str):
            return self.text(o, counts)
        if isinstance(o, list):
            return [self.obj(x, counts) for x in o]
        if isinstance(o, dict):
            return {k: self.obj(v, counts) for k, v in o.items()}
        return o

    # -- batch files (batch/loader.py): JSON lines, redacted before the engine or a temp file sees them ----
    def lines(self, data: bytes) -> bytes:
        """``data`` (whole lines) with every line redacted: flat events and OTLP/JSON requests are parsed
        and their string values redacted (a flat event with content gets the capture policy and its
        counts as ``attributes``); a line that is not JSON is redacted as text. Newlines stay put."""
        out, changed = [], False
        for raw in data.split(b"\n"):
            new = self._line(raw) if raw.strip() else raw
            changed = changed or new is not raw
            out.append(new)
        return b"\n".join(out) if changed else data

    def _line(self, raw: bytes) -> bytes:
        text = raw.decode("utf-8", "replace")
        content = self._policy_active() and ('"input"' in text or '"output"' in text)
        if not content and (self.redactor is None or ("\\u" not in text and not self.redactor.may_hold_pii(text))):
            return raw
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            counts: Counts = {}
            new = self.text(text, counts)
            return new.encode() if counts else raw
        counts = {}
        if isinstance(doc, dict) and not any(k in doc for k in ("resourceSpans", "resource_spans")):
            doc = self._flat(doc, counts, content)
        else:
            doc = self.obj(doc, counts)
            add_counts(self.totals, counts)
        if not counts and not content:
            return raw
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

    def _policy_active(self) -> bool:
        p = self.policy
        return p is not None and (p.default.rate < 1.0 or bool(p.rules) or bool(p.marks))

    def _flat(self, doc: dict[str, Any], counts: Counts, content: bool) -> dict[str, Any]:
        attrs = doc.get("attributes") if isinstance(doc.get("attributes"), dict) else {}
        if content and self.policy is not None:
            trace = str(doc.get("trace_id") or "")
            trace_id = bytes.fromhex(trace) if len(trace) == 32 and all(c in "0123456789abcdefABCDEF" for c in trace) \
                else hashlib.sha256(str(doc.get("request_id") or json.dumps(doc, sort_keys=True)).encode()).digest()[:16]
            failed = doc.get("status") == "error" or bool(doc.get("error_type")) or \
                str(doc.get("http_status") or doc.get("downstream_status") or "")[:1] in ("4", "5", "t")
            flag = doc.get("capture") if isinstance(doc.get("capture"), bool) else None
            keep = self.policy.decide(project=self.project or str(doc.get("project") or "") or self.default_project,
                                      route=str(doc.get("route") or ""), source=self.source, trace_id=trace_id,
                                      failed=failed, flag=flag)
            if not keep:
                self.dropped += 1
                doc = {k: v for k, v in doc.items() if k not in ("input", "output")}
            elif keep != "kept":
                attrs = {**attrs, REASON_KEY: keep}
        doc = {k: (v if k in _FLAT_SKIP else self.obj(v, counts)) for k, v in doc.items()}
        if counts:
            add_counts(self.totals, counts)
            attrs = {**attrs, REDACTED_KEY: format_counts(add_counts(parse_counts(str(attrs.get(REDACTED_KEY, ""))),
                                                                     counts))}
        if attrs:
            doc["attributes"] = attrs
        return doc

    # -- OTLP log records (ingest/logs.py) ---------------------------------------------------------------
    def logs(self, decoded: Any) -> None:
        """Apply the policy to, and redact, the content ``logs.extract`` grouped by span (``DecodedLogs``).
        A log record carries no span status: errors and flags are known from the span itself only."""
        for key, sc in list(decoded.spans.items()):
            if self.policy is not None:
                keep = self.policy.decide(project=self.project or sc.project or self.default_project, route="",
                                          source=self.source, trace_id=bytes.fromhex(sc.trace_id), failed=False,
                                          flag=None)
                if not keep:
                    del decoded.spans[key]
                    self.dropped += 1
                    continue
            counts: Counts = {}
            sc.input_messages = self.obj(sc.input_messages, counts)
            sc.input_doc = self.obj(sc.input_doc, counts)
            sc.system = self.obj(sc.system, counts)
            sc.choices = [(i, self.obj(m, counts)) for i, m in sc.choices]
            sc.output_doc = self.obj(sc.output_doc, counts)
            add_counts(self.totals, counts)

    # -- OTLP trace requests ---------------------------------------------------------------------------
    def _fast(self) -> bool:
        """Whether a span can be checked on its serialized bytes first (``request``): the redactor has a
        byte pre-check (no custom pattern or Presidio that must see every value) and the policy's decision
        depends on nothing but the span's status (no route or project rules, no marks)."""
        r, p = self.redactor, self.policy
        return (r is None or not (r.always or r.extra is not None)) and (p is None or not (p.rules or p.marks))

    def request(self, req: Any) -> None:
        """Redact ``req`` (an ExportTraceServiceRequest) in place and apply the capture policy.

        A span whose serialized bytes hold nothing any rule could match and no client capture flag skips
        the walk over its attributes (about 1 us per attribute through the protobuf runtime): only its
        content, found on the bytes, gets the policy's decision. The others are walked in full."""
        fast = self._fast()
        for rs in req.resource_spans:
            res_project, res_route = "", ""
            res_counts: Counts = {}
            for kv in rs.resource.attributes:
                kind = _kind(kv.key)
                if kind == _PROJECT:
                    res_project = kv.value.string_value
                elif kind == _ROUTE:
                    res_route = kv.value.string_value
                if kind != _SKIP:
                    self.any_value(kv.value, res_counts)
            add_counts(self.totals, res_counts)
            for ss in rs.scope_spans:
                if fast:
                    self._screened(ss.spans, res_project, res_route)
                else:
                    for sp in ss.spans:
                        self.span(sp, res_project, res_route)

    def _screened(self, spans: Any, res_project: str, res_route: str) -> None:
        """``spans`` checked on their serialized bytes first: the full walk only for a span that may hold
        PII or carries a client capture flag; a span with content gets the policy's decision. When most of
        the first ``SCREEN_PROBE`` spans must be walked anyway (ids with long digit runs in every span), the
        rest are walked without the screen's cost."""
        n = len(spans)
        probe = min(n, SCREEN_PROBE)
        walked = self._screen_part(spans[:probe], res_project, res_route)
        if probe == n:
            return
        if walked > probe // 2:
            for sp in spans[probe:]:
                self.span(sp, res_project, res_route)
        else:
            self._screen_part(spans[probe:], res_project, res_route)

    def _screen_part(self, spans: list[Any], res_project: str, res_route: str) -> int:
        blobs = [sp.SerializeToString() for sp in spans]
        data = redact.binary_array(blobs)
        walk = self.redactor.screen(blobs, data) if self.redactor is not None else [False] * len(blobs)
        special = redact.matches(data, SPECIAL_PATTERN)
        content = redact.matches(data, _content_pattern()) if self.policy is not None else [False] * len(blobs)
        walked = 0
        for sp, blob, full, flagged, has_content in zip(spans, blobs, walk, special, content, strict=True):
            if full or (has_content and not self._content_only(sp, blob, res_project, flagged)):
                self.span(sp, res_project, res_route)
                walked += 1
        return walked

    def _content_only(self, sp: Any, data: bytes, res_project: str, flagged: bool) -> bool:
        """The capture policy for a span with content and nothing to redact (``data`` is it serialized;
        ``flagged``: it names the client's capture flag or reason, read from its attributes' keys). False
        when the content is dropped (the full walk then deletes it)."""
        assert self.policy is not None
        flag, reason, reason_at = None, "", -1
        if flagged:
            for i, kv in enumerate(sp.attributes):
                key = kv.key
                if key == CAPTURE_FLAG_KEY:
                    v = kv.value
                    flag = v.bool_value if v.WhichOneof("value") == "bool_value" else \
                        v.string_value.strip().lower() in ("1", "true", "yes", "on")
                elif key == REASON_KEY:
                    reason_at, reason = i, kv.value.string_value
        failed = sp.status.code == 2 or (_FAILED_BYTES.search(data) is not None and _failed(sp.attributes))
        keep = self.policy.decide(project=self.project or res_project or self.default_project, route="",
                                  source=self.source, trace_id=sp.trace_id, failed=failed, flag=flag,
                                  client_reason=reason)
        if not keep:
            return False
        if keep != "kept" and keep != reason:
            if reason_at >= 0:
                sp.attributes[reason_at].value.string_value = keep
            else:
                sp.attributes.append(KeyValue(key=REASON_KEY, value=AnyValue(string_value=keep)))
        return True

    def span(self, sp: Any, res_project: str = "", res_route: str = "") -> None:
        counts: Counts = {}
        content: list[int] = []
        route, project, flag, reason_at, reason, redacted_at, failed = res_route, res_project, None, -1, "", -1, False
        attrs = sp.attributes
        redactor, min_chars = self.redactor, self.min_chars
        for i, kv in enumerate(attrs):
            kind = _KINDS.get(kv.key)
            if kind is None:
                kind = _kind(kv.key)
            if kind == _SKIP:
                continue
            if kind == _PLAIN:
                v = kv.value
                s = v.string_value
                if s:
                    if redactor is not None and len(s) >= min_chars:
                        new, c = redactor.redact(s)
                        if c:
                            v.string_value = new
                            add_counts(counts, c)
                elif v.WhichOneof("value") in ("array_value", "kvlist_value"):
                    self.any_value(v, counts)
                continue
            if kind == _CONTENT:
                content.append(i)
            elif kind == _ROUTE:
                route = kv.value.string_value
                self.any_value(kv.value, counts)
            elif kind == _FLAG:
                v = kv.value
                flag = v.bool_value if v.WhichOneof("value") == "bool_value" else \
                    v.string_value.strip().lower() in ("1", "true", "yes", "on")
            elif kind == _REASON:
                reason_at, reason = i, kv.value.string_value
            elif kind == _REDACTED:
                redacted_at = i
            elif kind == _PROJECT:
                project = kv.value.string_value
        events_content = self._events(sp, counts)
        if sp.status.code == 2:
            failed = True
        elif not failed:
            failed = _failed(attrs) if content or events_content else False
        if sp.status.message:
            sp.status.message = self.text(sp.status.message, counts)
        if len(sp.name) >= min_chars:
            sp.name = self.text(sp.name, counts)
        if content or events_content:
            self._content(sp, content, events_content, counts, project=self.project or project or
                          self.default_project, route=route, flag=flag, reason=reason, reason_at=reason_at,
                          failed=failed)
        if counts:
            add_counts(self.totals, counts)
            sdk = next((kv for kv in attrs if kv.key == REDACTED_KEY), None) if redacted_at >= 0 else None
            if sdk is not None:  # the SDK's own count, plus the server's
                sdk.value.string_value = format_counts(add_counts(parse_counts(sdk.value.string_value), counts))
            else:
                attrs.append(KeyValue(key=REDACTED_KEY, value=AnyValue(string_value=format_counts(counts))))

    def _events(self, sp: Any, counts: Counts) -> list[tuple[int, int]]:
        """Redact the events' non-content values; return where their content values are."""
        found: list[tuple[int, int]] = []
        for e, ev in enumerate(sp.events):
            for i, kv in enumerate(ev.attributes):
                kind = _kind(kv.key)
                if kind == _CONTENT:
                    found.append((e, i))
                elif kind != _SKIP:
                    self.any_value(kv.value, counts)
        return found

    def _content(self, sp: Any, content: list[int], events_content: list[tuple[int, int]], counts: Counts, *,
                 project: str, route: str, flag: bool | None, reason: str, reason_at: int, failed: bool) -> None:
        keep = "kept"
        if self.policy is not None:
            keep = self.policy.decide(project=project, route=route, source=self.source, trace_id=sp.trace_id,
                                      failed=failed, flag=flag, client_reason=reason) or ""
        attrs = sp.attributes
        if not keep:
            self.dropped += 1
            for i in sorted([*content, *([reason_at] if reason_at >= 0 else [])], reverse=True):
                del attrs[i]
            for e, i in sorted(events_content, reverse=True):
                del sp.events[e].attributes[i]
            return
        for i in content:
            self.any_value(attrs[i].value, counts)
        for e, i in events_content:
            self.any_value(sp.events[e].attributes[i].value, counts)
        if keep != "kept" and keep != reason:
            if reason_at >= 0:
                attrs[reason_at].value.string_value = keep
            else:
                attrs.append(KeyValue(key=REASON_KEY, value=AnyValue(string_value=keep)))
