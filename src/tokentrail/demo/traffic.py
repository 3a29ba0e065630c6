"""Realistic demo traffic as OTLP requests: agents calling models and tools.

Each generated trace is one user turn of an app: an agent (or chain) span, one or two
LLM calls (some streamed, with TTFT), tool and retrieval spans in between, across
several routes, models, users, customers and sessions, with errors including 429s.
The spans carry the keys tokentrail's own SDK sends (gen_ai.* plus tokentrail.*).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1 import trace_pb2

from tokentrail.ingest.wire import kv as _kv

ROUTES = {  # route -> (models with weights, input tokens range, output tokens range)
    "support-chat": ([("gpt-4o-mini-2024-07-18", 6), ("claude-3-5-haiku-20241022", 2)], (400, 3000), (50, 400)),
    "classify-intent": ([("gpt-4o-mini", 9), ("gpt-4.1-nano", 1)], (150, 900), (1, 20)),
    "summarize-ticket": ([("gpt-4o-2024-08-06", 3), ("claude-sonnet-4-20250514", 2)], (2000, 12000), (150, 700)),
    "code-review": ([("claude-sonnet-4-20250514", 3), ("o4-mini", 1)], (3000, 20000), (300, 1500)),
    "search-embed": ([("text-embedding-3-small", 1)], (20, 400), (0, 0)),
    "legacy-batch": ([("mystery-model-v0", 1)], (200, 800), (50, 200)),
}
ROUTE_WEIGHTS = {"support-chat": 40, "classify-intent": 30, "summarize-ticket": 12, "code-review": 8,
                 "search-embed": 8, "legacy-batch": 2}
TOOLS = ("search_kb", "get_order", "create_ticket", "run_tests")
ENVIRONMENTS = (("production", 8), ("staging", 2))
PROMPTS = {
    "support-chat": ("My order #{n} has not arrived yet, can you check where it is?",
                     "I checked order #{n}: it left our warehouse yesterday and should arrive within 2 days."),
    "classify-intent": ("Classify the intent of: 'I want to cancel my subscription'", '{{"intent": "cancel"}}'),
    "summarize-ticket": ("Summarize ticket {n}: customer reports login failures after the last update ...",
                         "Customer cannot log in since release 2026.11.3; password reset did not help."),
    "code-review": ("Review this diff: def total(items): return sum(i.price for i in items) ...",
                    "Looks good. Consider Decimal for money and a test for an empty list."),
    "legacy-batch": ("Translate the product description #{n} to German.", "Produktbeschreibung #{n} ..."),
}
RELEASES = ("2026.11.3", "2026.11.4")


def _iso(unix_nano: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(unix_nano / 1e9)) + "Z"


def _letters(n: int, width: int = 4) -> str:
    """``n`` in base 26 as letters: an id part without a long digit run (such a run in every span would
    send every demo span through the redactor's digit rules)."""
    out = ""
    for _ in range(width):
        n, r = divmod(n, 26)
        out = chr(97 + r) + out
    return out


def _pick(weighted: list[tuple[str, int]] | tuple[tuple[str, int], ...], rnd: random.Random) -> str:
    return rnd.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _provider(model: str) -> str:
    if model.startswith("claude"):
        return "anthropic"
    if model.startswith("mystery"):
        return "acme"
    return "openai"


@dataclass
class Traffic:
    """A seeded generator of demo traces; ``users`` and ``sessions`` set the cardinality."""

    seed: int = 7
    users: int = 200
    customers: int = 25
    error_rate: float = 0.03
    rate_limit_rate: float = 0.02

    def __post_init__(self) -> None:
        self.rnd = random.Random(self.seed)
        self.traces_made = 0
        self.spans_made = 0
        self.feedback: list[dict[str, object]] = []  # user feedback on a sample of calls

    def trace_spans(self, start_ns: int) -> list[trace_pb2.Span]:
        rnd = self.rnd
        route = _pick(list(ROUTE_WEIGHTS.items()), rnd)
        models, in_range, out_range = ROUTES[route]
        user = rnd.randrange(self.users)
        # a session is one user on one feature within an hour (a conversation), not days of every route
        hour = start_ns // 3_600_000_000_000
        session = f"sess-{user:04d}-{_letters(hour)}{list(ROUTES).index(route)}"
        ctx = {"user.id": f"user-{user:04d}", "session.id": session,
               "tokentrail.route": route, "tokentrail.customer": f"cust-{user % self.customers:02d}",
               "tokentrail.tags": ["demo", rnd.choice(["web", "mobile", "api"])]}
        trace_id = rnd.randbytes(16)  # from the seed: the same demo gives the same ids (a re-send replaces)
        root_id = rnd.randbytes(8)
        spans: list[trace_pb2.Span] = []
        t = start_ns
        n_llm = 1 if route in ("classify-intent", "search-embed", "legacy-batch") else rnd.choice((1, 2, 2))
        for i in range(n_llm):
            if i > 0:  # a tool call between two model calls
                tool_ms = rnd.uniform(5, 250)
                spans.append(self._span(trace_id, root_id, rnd.choice(TOOLS), t, tool_ms,
                                        {"tokentrail.kind": "tool", **ctx}))
                t += int(tool_ms * 1e6)
            span, dur_ms = self._llm_span(trace_id, root_id, route, _pick(models, rnd), in_range, out_range, t, ctx)
            spans.append(span)
            t += int(dur_ms * 1e6)
        root_kind = "agent" if n_llm > 1 else "chain"
        root = self._span(trace_id, b"", route, start_ns, (t - start_ns) / 1e6 + rnd.uniform(1, 15),
                          {"tokentrail.kind": root_kind, **ctx}, span_id=root_id)
        if any(s.status.code == 2 for s in spans):
            root.status.code = 2
        self.traces_made += 1
        self.spans_made += len(spans) + 1
        return [root, *spans]

    def _span(self, trace_id: bytes, parent: bytes, name: str, start_ns: int, dur_ms: float,
              attrs: dict[str, object], span_id: bytes | None = None) -> trace_pb2.Span:
        s = trace_pb2.Span(trace_id=trace_id, span_id=span_id or self.rnd.randbytes(8), parent_span_id=parent,
                           name=name, kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
                           start_time_unix_nano=start_ns, end_time_unix_nano=start_ns + int(dur_ms * 1e6))
        s.attributes.extend(_kv(k, v) for k, v in attrs.items())
        s.status.code = trace_pb2.Status.STATUS_CODE_OK
        return s

    def _llm_span(self, trace_id: bytes, parent: bytes, route: str, model: str, in_range: tuple[int, int],
                  out_range: tuple[int, int], start_ns: int, ctx: dict[str, object]) -> tuple[trace_pb2.Span, float]:
        rnd = self.rnd
        embedding = model.startswith("text-embedding")
        streamed = not embedding and rnd.random() < 0.5
        inp = rnd.randint(*in_range)
        out = 0 if embedding else rnd.randint(*out_range)
        cached = inp // 2 if rnd.random() < 0.2 else 0
        ttft = rnd.lognormvariate(-1.2, 0.5) * 1000 if streamed else None
        dur = (rnd.lognormvariate(-3, 0.4) * 1000) if embedding else (
            (ttft or rnd.lognormvariate(-1.0, 0.5) * 1000) + out * rnd.uniform(8, 25))
        attrs: dict[str, object] = {
            "gen_ai.operation.name": "embeddings" if embedding else "chat",
            "gen_ai.system": _provider(model), "gen_ai.request.model": model.split("-20")[0],
            "gen_ai.response.model": model, "gen_ai.usage.input_tokens": inp,
            "gen_ai.usage.output_tokens": out, "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 1024, "tokentrail.streamed": streamed, **ctx,
        }
        if cached:
            attrs["gen_ai.usage.cache_read.input_tokens"] = cached
        if route in PROMPTS and rnd.random() < 0.3:  # content captured for a sample of calls
            n = rnd.randrange(10_000, 99_999)
            attrs["tokentrail.input"] = PROMPTS[route][0].format(n=n)
            attrs["tokentrail.output"] = PROMPTS[route][1].format(n=n)
            attrs["tokentrail.capture_reason"] = "sampled"
        if route == "classify-intent":
            attrs["tokentrail.schema_valid"] = rnd.random() > 0.04
        if ttft is not None:
            attrs["tokentrail.ttft_ms"] = round(ttft, 3)
        span = self._span(trace_id, parent, f"{'embeddings' if embedding else 'chat'} {model}", start_ns, dur, attrs)
        span.kind = trace_pb2.Span.SPAN_KIND_CLIENT
        roll = rnd.random()
        if roll < self.rate_limit_rate:
            self._fail(span, 429, "RateLimitError", "Rate limit reached for requests")
            dur = rnd.uniform(20, 80)
        elif roll < self.rate_limit_rate + self.error_rate:
            code, etype = rnd.choice(((500, "InternalServerError"), (504, "APITimeoutError"), (400, "BadRequestError")))
            self._fail(span, code, etype, f"upstream returned {code}")
        else:
            span.attributes.append(_kv("gen_ai.response.finish_reasons",
                                       ["length" if out >= out_range[1] * 0.98 else "stop"]))
            span.attributes.append(_kv("http.response.status_code", 200))
        span.end_time_unix_nano = start_ns + int(dur * 1e6)
        if span.status.code != 2 and not embedding and rnd.random() < 0.05:
            good = rnd.random() < (0.6 if route == "code-review" else 0.85)
            self.feedback.append({"name": "user-feedback", "value": 1 if good else 0,
                                  "score_id": f"demo-{span.span_id.hex()}",
                                  "label": "thumbs-up" if good else "thumbs-down", "trace_id": trace_id.hex(),
                                  "span_id": span.span_id.hex(), "source": "feedback",
                                  "timestamp": _iso(span.end_time_unix_nano)})
        return span, dur

    @staticmethod
    def _fail(span: trace_pb2.Span, code: int, etype: str, message: str) -> None:
        """The call failed before any output: no usage, output, first token or schema check to report,
        and nothing was streamed."""
        gone = ("tokentrail.output", "tokentrail.ttft_ms", "tokentrail.schema_valid", "tokentrail.streamed")
        for kv in list(span.attributes):
            if kv.key.startswith("gen_ai.usage.") or kv.key in gone:
                span.attributes.remove(kv)
        span.attributes.append(_kv("tokentrail.streamed", False))
        span.attributes.extend([_kv("http.response.status_code", code), _kv("error.type", etype)])
        span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
        span.status.message = message

    def requests(self, traces: int, per_request: int = 64, start_ns: int | None = None,
                 span_seconds: float = 3600.0, environment: str | None = None) -> Iterator[bytes]:
        """Serialized OTLP requests holding ``traces`` traces spread over ``span_seconds``
        before ``start_ns`` (default: now)."""
        end = start_ns or time.time_ns()
        batch: list[trace_pb2.Span] = []
        for _ in range(traces):
            t0 = end - int(self.rnd.uniform(0, span_seconds) * 1e9)
            batch.extend(self.trace_spans(t0))
            if len(batch) >= per_request:
                yield self._request(batch, environment)
                batch = []
        if batch:
            yield self._request(batch, environment)

    def _request(self, spans: list[trace_pb2.Span], environment: str | None) -> bytes:
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        env = environment or _pick(ENVIRONMENTS, self.rnd)
        rs.resource.attributes.extend([_kv("service.name", "demo-app"), _kv("deployment.environment.name", env),
                                       _kv("service.version", self.rnd.choice(RELEASES)),
                                       _kv("tokentrail.source", "sdk")])
        ss = rs.scope_spans.add()
        ss.scope.name = "tokentrail.demo"
        ss.spans.extend(spans)
        return req.SerializeToString()
