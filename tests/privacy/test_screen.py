"""The fast path of the OTLP walk (``Scrubber.request``): spans are screened on their serialized bytes
(``Redactor.screen``, RE2 through pyarrow) and only those that may hold PII are walked value by value.
The screen must never miss a value a rule redacts, and the fast path must store exactly what the full
walk stores."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tokentrail.privacy import redact
from tokentrail.privacy.policy import Policy, Rule
from tokentrail.privacy.rules import NATIONAL_IDS
from tokentrail.privacy.walk import Scrubber

CORPUS = [json.loads(line) for line in (Path(__file__).parent / "corpus" / "corpus.jsonl").read_text().splitlines()]
ALL_IDS = redact.make(national_ids=",".join(NATIONAL_IDS))
DEFAULT = redact.make()


def _span(text: str, where: str, i: int = 0) -> Span:
    sp = Span(trace_id=(i + 1).to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"), name="chat",
              start_time_unix_nano=1, end_time_unix_nano=2, kind=3)
    sp.attributes.append(KeyValue(key="gen_ai.response.model", value=AnyValue(string_value="gpt-4o-2024-08-06")))
    if where == "attribute":
        sp.attributes.append(KeyValue(key="app.note", value=AnyValue(string_value=text)))
    elif where == "content":
        sp.attributes.append(KeyValue(key="gen_ai.prompt", value=AnyValue(string_value=text)))
    elif where == "array":
        v = AnyValue()
        v.array_value.values.add().string_value = text
        sp.attributes.append(KeyValue(key="app.list", value=v))
    elif where == "event":
        sp.events.add(name="log").attributes.append(KeyValue(key="message", value=AnyValue(string_value=text)))
    elif where == "name":
        sp.name = text
    elif where == "status":
        sp.status.message = text
    sp.attributes.append(KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="claude-sonnet-4-20250514")))
    return sp


WHERE = ("attribute", "content", "array", "event", "name", "status")


def _misses(redactor: redact.Redactor, texts: list[str]) -> list[tuple[str, str]]:
    missed = []
    for where in WHERE:
        spans = [_span(t, where, i) for i, t in enumerate(texts)]
        blobs = [sp.SerializeToString() for sp in spans]
        for text, flagged in zip(texts, redactor.screen(blobs), strict=True):
            if not flagged and redactor.redact(text)[1]:
                missed.append((where, text))
    return missed


def test_the_screen_flags_every_corpus_text_and_value_a_rule_redacts() -> None:
    texts = [row["text"] for row in CORPUS] + [p["value"] for row in CORPUS for p in row["pii"]]
    for redactor in (DEFAULT, ALL_IDS):
        assert _misses(redactor, texts) == []
    # and it lets clean text through (the point of the fast path), dated model names included
    clean = ["Summarize the ticket about the login page.", "You are a helpful assistant.", "gpt-4o-2024-08-06",
             '{"role": "user", "content": "What is the weather in Paris?"}', "Total tokens: 1234"]
    blobs = [_span(text, where, i).SerializeToString() for i, text in enumerate(clean) for where in WHERE]
    assert DEFAULT.screen(blobs) == [False] * len(blobs)


_ALPHABET = st.sampled_from(list("0123456789") * 4 + list(" -.()/:@+_=\n\t") + list("abcdefABCDEFkKsSxXyYzZ") +
                            ["sk-", "SSN ", "token ", "password=", "2024-08-06", "20250514", "@example.com",
                             "::", "\u00a0", "\u0131", "\u212a", "é", "١٢٣"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, min_size=1, max_size=40).map("".join))
def test_the_screen_never_misses_what_a_rule_redacts(text: str) -> None:
    assert _misses(ALL_IDS, [text, "-" + text, "gpt-4o-" + text]) == []


def _request(spans: list[Span]) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="svc")))
    rs.scope_spans.add().spans.extend(spans)
    return req


def _stored(req: ExportTraceServiceRequest, policy: Policy | None, fast: bool) -> tuple[bytes, dict, int]:
    copy = ExportTraceServiceRequest.FromString(req.SerializeToString())
    scrub = Scrubber(DEFAULT, policy)
    if not fast:
        scrub._fast = lambda: False  # type: ignore[method-assign]
    scrub.request(copy)
    return copy.SerializeToString(), scrub.totals, scrub.dropped


def test_the_fast_path_stores_exactly_what_the_full_walk_stores() -> None:
    spans = []
    for i, row in enumerate(CORPUS[:300]):
        sp = _span(row["text"] if i % 3 else row["decoys"][0] if row["decoys"] else "", WHERE[i % len(WHERE)], i)
        if i % 7 == 0:
            sp.status.code = 2
        if i % 11 == 0:
            sp.attributes.append(KeyValue(key="tokentrail.capture", value=AnyValue(bool_value=i % 22 == 0)))
        if i % 13 == 0:
            sp.attributes.append(KeyValue(key="tokentrail.capture_reason", value=AnyValue(string_value="flagged")))
        if i % 5 == 0:
            sp.attributes.append(KeyValue(key="http.response.status_code", value=AnyValue(int_value=500)))
        spans.append(sp)
    req = _request(spans)
    for policy in (None, Policy(), Policy(default=Rule(rate=0.5)), Policy(default=Rule(rate=0.0, errors=True)),
                   Policy(default=Rule(rate=1.0, errors=False, flagged=False))):
        assert _stored(req, policy, fast=True) == _stored(req, policy, fast=False)
