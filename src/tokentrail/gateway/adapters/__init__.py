"""Per-provider adapters: which paths are model calls, and what a call's bodies say.

An adapter reads the bytes the gateway forwarded (request body, response body or the
whole event stream) after the call, in the recorder thread, never on the request path.
It answers: model, usage (or an estimate when the provider reported none), finish
reasons, output text, and the provider's error. Adding a wire format is one module here
with the same four functions: ``operation``, ``parse_response``, ``parse_stream``, and
``error_body`` (the gateway's own errors, shaped so the official client raises its usual
exception).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import orjson

from tokentrail.gateway.tokens import estimate_all


@dataclass(slots=True)
class Outcome:
    """What one call's bodies say; token fields follow tokentrail's convention (input includes cached)."""

    request_model: str = ""
    response_model: str = ""
    response_id: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    usage_seen: bool = False
    input_seen: bool = False  # usage gave the input side only (Anthropic message_start)
    estimated: bool = False
    finish_reasons: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)  # text and tool-call arguments, in order
    # the tool calls of the reply, by position: {"id", "name", "arguments"} (arguments: the JSON text)
    tool_calls: dict[int, dict[str, str]] = field(default_factory=dict)
    error_type: str = ""  # the provider's own error type or code, for the status message
    error_message: str = ""
    complete: bool = False  # a stream reached its terminal event

    not_text: set[int] = field(default_factory=set)  # positions in ``output`` of arguments and thinking

    def call_at(self, index: int) -> dict[str, str]:
        return self.tool_calls.setdefault(index, {"id": "", "name": "", "arguments": ""})

    def add_other(self, piece: str) -> None:
        """Output that is not the reply's text (tool-call arguments, thinking): counted, kept apart."""
        self.not_text.add(len(self.output))
        self.output.append(piece)

    def text(self) -> str:
        """The generated text, without tool-call arguments and thinking."""
        return "".join(p for i, p in enumerate(self.output) if i not in self.not_text)

    def estimate_missing(self, input_texts: list[str]) -> None:
        """Fill tokens the provider did not report (no usage block, stream cut short)."""
        if self.usage_seen:
            return
        if not self.input_seen:
            self.input_tokens = estimate_all(input_texts)
        self.output_tokens = estimate_all(self.output)
        self.estimated = True


def loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def decode_body(body: bytes, encoding: str) -> bytes:
    """The body as sent before content-encoding (gzip/deflate), best effort for cut-off bodies."""
    if encoding in ("gzip", "deflate") and body:
        try:
            return zlib.decompressobj(zlib.MAX_WBITS | 32).decompress(body)
        except zlib.error:
            return b""
    return body


def iter_sse(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(event name, data) of each server-sent event in ``data``; a cut-off last event is included."""
    for block in data.replace(b"\r\n", b"\n").split(b"\n\n"):
        event, lines = "", []
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                lines.append(line[5:].lstrip(b" "))
            elif line.startswith(b"event:"):
                event = line[6:].strip().decode("utf-8", "replace")
        if lines:
            yield event, b"\n".join(lines)


def texts(value: Any, keys: frozenset[str], out: list[str], take: bool = False) -> list[str]:
    """Every string under one of ``keys`` anywhere in a JSON value (the prompt's text parts)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str):
                if k in keys:
                    out.append(v)
            else:
                texts(v, keys, out, k in keys)
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, str):
                if take:
                    out.append(v)
            else:
                texts(v, keys, out, take)
    return out


def request_info(body: bytes, keys: frozenset[str]) -> tuple[str, list[str]]:
    """(model, prompt texts) of a JSON request body."""
    doc = loads(body) if body else None
    if not isinstance(doc, dict):
        return "", []
    model = doc.get("model")
    return (model if isinstance(model, str) else ""), texts(doc, keys, [])


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def adapter_for(fmt: str) -> ModuleType:
    from tokentrail.gateway.adapters import anthropic, openai

    return {"openai": openai, "anthropic": anthropic}[fmt]
