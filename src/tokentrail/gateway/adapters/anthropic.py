"""Anthropic Messages wire format.

Usage: ``input_tokens`` excludes cached tokens, so the recorded input is ``input_tokens +
cache_read_input_tokens + cache_creation_input_tokens`` (tokentrail's convention). In a
stream, ``message_start`` carries the input side (and ``output_tokens`` of 1), and
``message_delta`` the final cumulative output (and, in newer API versions, updated input
counts, which win).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from tokentrail.gateway.adapters import Outcome, as_int, iter_sse, loads

INPUT_KEYS = frozenset({"content", "text", "system"})
AUTH_HEADER = "x-api-key"
STREAM_END = (b"message_stop",)


def operation(method: str, path: str) -> str | None:
    if method != "POST":
        return None
    return "chat" if (path[3:] if path.startswith("/v1/") else path) == "/messages" else None


def auth_value(key: str) -> str:
    return key


def _usage(out: Outcome, usage: Any, final: bool) -> None:
    if not isinstance(usage, dict):
        return
    fresh = usage.get("input_tokens")
    if fresh is not None or "cache_read_input_tokens" in usage:
        out.cached_input_tokens = as_int(usage.get("cache_read_input_tokens")) or out.cached_input_tokens
        out.cache_write_tokens = as_int(usage.get("cache_creation_input_tokens")) or out.cache_write_tokens
        out.input_tokens = as_int(fresh) + out.cached_input_tokens + out.cache_write_tokens
        out.input_seen = True
    if "output_tokens" in usage:
        out.output_tokens = as_int(usage["output_tokens"])
    out.usage_seen = out.usage_seen or final


def _error(out: Outcome, doc: Any) -> None:
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict):
        out.error_type = str(error.get("type") or "")
        out.error_message = str(error.get("message") or "")


def _content(out: Outcome, blocks: Any) -> None:
    for block in blocks if isinstance(blocks, list) else ():
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            out.output.append(block["text"])
        elif block.get("type") == "tool_use" and block.get("input") is not None:
            args = json.dumps(block["input"])
            out.add_other(args)
            slot = out.call_at(len(out.tool_calls))
            slot.update(id=str(block.get("id") or ""), name=str(block.get("name") or ""), arguments=args)


def _message(out: Outcome, msg: Any) -> None:
    if not isinstance(msg, dict):
        return
    out.response_model = str(msg.get("model") or out.response_model)
    out.response_id = str(msg.get("id") or out.response_id)
    if msg.get("stop_reason"):
        out.finish_reasons = [str(msg["stop_reason"])]


def parse_response(operation: str, body: bytes) -> Outcome:
    out = Outcome()
    doc = loads(body)
    if not isinstance(doc, dict):
        return out
    if doc.get("type") == "error":
        _error(out, doc)
        return out
    _message(out, doc)
    _usage(out, doc.get("usage"), final=True)
    _content(out, doc.get("content"))
    return out


def parse_stream(operation: str, data: bytes) -> Outcome:
    out = Outcome()
    blocks: dict[Any, dict[str, str]] = {}  # content block index -> its tool call
    for event, payload in iter_sse(data):
        doc = loads(payload)
        if not isinstance(doc, dict):
            continue
        kind = event or str(doc.get("type", ""))
        if kind == "content_block_delta":
            delta = doc.get("delta") or {}
            piece = delta.get("text") or delta.get("partial_json") or delta.get("thinking")
            if isinstance(piece, str) and piece:
                if delta.get("text"):
                    out.output.append(piece)
                else:
                    out.add_other(piece)
                if delta.get("partial_json") and doc.get("index") in blocks:
                    blocks[doc["index"]]["arguments"] += piece
        elif kind == "content_block_start":
            block = doc.get("content_block") or {}
            if isinstance(block, dict) and block.get("type") == "tool_use":
                slot = out.call_at(len(out.tool_calls))
                slot.update(id=str(block.get("id") or ""), name=str(block.get("name") or ""))
                blocks[doc.get("index")] = slot
        elif kind == "message_start":
            _message(out, doc.get("message"))
            _usage(out, (doc.get("message") or {}).get("usage"), final=False)
        elif kind == "message_delta":
            _message(out, doc.get("delta"))
            _usage(out, doc.get("usage"), final=True)
        elif kind == "message_stop":
            out.complete = True
        elif kind == "error":
            _error(out, doc)
    return out


def error_body(status: int, message: str, kind: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})
