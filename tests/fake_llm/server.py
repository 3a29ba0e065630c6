"""Fake OpenAI + Anthropic provider (aiohttp) speaking the real wire formats, for tests and benchmarks.

Point the official clients at it unmodified::

    openai.OpenAI(base_url=f"{fake.base_url}/v1", api_key="sk-test")       # note the /v1
    anthropic.Anthropic(base_url=fake.base_url, api_key="sk-ant-test")       # no /v1

Routes
    OpenAI:    POST /v1/chat/completions, POST /v1/responses, POST /v1/embeddings,
               GET /v1/models, GET /v1/models/{model}
    Anthropic: POST /v1/messages, POST /v1/messages/count_tokens,
               GET /v1/models (Anthropic format when the request has an ``anthropic-version`` header)
    Control:   GET /_fake/requests, POST /_fake/reset, GET /_fake/health  (never recorded)
    Unknown paths get a 404 in the provider's error format.

Deterministic output
    * Reply text: the first N words of "This is a deterministic reply from the fake LLM server." repeated
      cyclically; N = 10 by default, ``words:<n>`` sets it. With ``echo`` the words of the last user
      message (``[fake:...]`` tags removed) are used instead.
    * If ``chunks:<n>`` is larger than N, N is raised to n. Then, if the request's max_tokens /
      max_completion_tokens / max_output_tokens is smaller than N, the text is cut to that many words and
      the reply is truncated (finish_reason "length", Anthropic "max_tokens", Responses status "incomplete").
    * Tokens: 1 word = 1 token (word = whitespace-separated). prompt tokens = words of every text of
      the prompt: message contents (strings or ``text`` parts/blocks, tool messages and Anthropic
      tool_result contents included), Anthropic ``system``, Responses ``instructions`` / ``input`` /
      function_call_output. Tool definitions, images and assistant tool-call arguments are not counted;
      ``[fake:...]`` tags are counted as words. ``prompt-tokens:<n>`` overrides the count.
      Embeddings: words of every string input (+ length of token-id inputs).
    * completion tokens = words of the reply, or 10 per tool call, plus ``reasoning:<n>`` (which is also
      reported as completion_tokens_details.reasoning_tokens / output_tokens_details.reasoning_tokens).
    * ``cached:<n>``: cached = min(n, prompt). ``cache-write:<n>``: min(n, prompt - cached).
      OpenAI: prompt_tokens = prompt (cached included), prompt_tokens_details.cached_tokens = cached.
      Anthropic: input_tokens = prompt - cached - written, cache_read_input_tokens = cached,
      cache_creation_input_tokens = written. Streams: message_start carries input/cache usage and
      output_tokens=1, message_delta carries the final output_tokens.
    * Tool calls: made when the request has function tools, tool_choice is not "none" and the last
      message is not a tool result (tool/function_call_output/tool_result), or always when tool_choice
      forces a tool ("required"/"any"/a named tool). The tool is the forced one, else the first tool
      (``tool-calls:<n>`` makes n calls cycling over the tools). Arguments are generated from the JSON
      schema (required properties, else all: string "fake", integer 1, number 1.5, boolean true, enum's
      first value, default/const when given). Streamed in ``chunks:<n>`` argument deltas (default 3).
      ``no-tool-call`` forces a text reply.
    * Ids derive from the request sequence number s (1, 2, ... since start, never reset):
      chatcmpl-fake{s}, resp_fake{s}, msg_fake{s}, call_fake{s}_{i}, toolu_fake{s}_{i}; request-id /
      x-request-id header req_fake{s}. Embeddings: unit vectors seeded by the input text, 8 dimensions
      unless ``dimensions`` is given; ``encoding_format`` float or base64 (little-endian float32).
    * Streams send one content delta per word unless ``chunks:<n>``.

Scenarios (combine freely; unknown tokens are answered with HTTP 400)
    Given by, in increasing priority:
      - a suffix of the model name: ``gpt-4o-mini+error-429`` or ``claude-haiku-4-5+chunks:3+echo``
        (the suffix is removed from the model name echoed in responses);
      - a magic tag in the last user message: ``[fake:slow-first-token:200 chunks:5]``;
      - the ``X-Fake-Scenario`` header: ``error-500`` or ``chunks:5, no-usage``.
    Tokens are separated by spaces, commas or ``+``; times are in milliseconds.
      error-<code>          HTTP <code> with the provider's JSON error body (429: ``retry-after`` header,
                            OpenAI type "requests"/code "rate_limit_exceeded", Anthropic "rate_limit_error";
                            500: "server_error" / "api_error"; 400: "invalid_request_error"; 529: overloaded)
      retry-after:<s>       retry-after value for 429/503/529 (default 1)
      delay:<ms>            wait before answering (streams: before the response headers)
      slow-first-token:<ms> streams: headers at once, then wait before the first event; non-streaming: = delay
      chunk-delay:<ms>      wait between content deltas of a stream
      chunks:<n>            number of content deltas (text split into n nearly equal word groups)
      abort-after:<n>       stream n content deltas then close the TCP connection without finishing
                            (non-streaming: the connection is closed without any response)
      stream-error-after:<n> stream n content deltas then the provider's in-stream error event
                            (OpenAI chat ``data: {"error":...}``, Responses ``event: error``,
                            Anthropic ``event: error`` overloaded_error)
      no-usage              no usage anywhere (chat: no usage chunk even with include_usage; non-streaming:
                            no ``usage`` key; Responses: usage null; Anthropic: no usage objects at all,
                            which the anthropic SDK's messages.stream() helper cannot accumulate: use
                            messages.create(stream=True) there)
      words:<n>, echo, no-tool-call, tool-calls:<n>, cached:<n>, cache-write:<n>, reasoning:<n>,
      prompt-tokens:<n>     see "Deterministic output"

Recording
    Every request except /_fake/* is recorded as a dict {"seq", "method", "path", "query", "headers"
    (lower-case names), "json" (parsed body or None), "time"} in ``app[STATE].requests`` (a deque, bounded by
    ``create_app(max_recorded=...)``), also served by GET /_fake/requests; POST /_fake/reset clears it.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import anthropic_routes, openai_responses, openai_routes
from .errors import error_for_path
from .streaming import BODY, SEQ, StreamStopped, json_response


@dataclass
class FakeState:
    requests: deque[dict[str, Any]] = field(default_factory=deque)
    seq: int = 0


STATE = web.AppKey("fake_llm_state", FakeState)


@web.middleware
async def _record(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith("/_fake/"):
        return await handler(request)
    raw = await request.read() if request.body_exists else b""
    body, invalid = None, False
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            invalid = True
    state = request.app[STATE]
    state.seq += 1
    seq = state.seq
    state.requests.append(
        {
            "seq": seq,
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "json": body,
            "time": time.time(),
        }
    )
    request[SEQ], request[BODY] = seq, body
    if request.method == "POST" and (invalid or not isinstance(body, dict)):
        message = "We could not parse the JSON body of your request. (The body must be a JSON object.)"
        return error_for_path(request.path, 400, message, seq=seq)
    try:
        return await handler(request)
    except StreamStopped as stopped:
        return stopped.response
    except web.HTTPException as exc:
        if exc.status in (404, 405):
            message = f"Invalid URL ({request.method} {request.path})"
            return error_for_path(request.path, exc.status, message, seq=seq)
        raise


async def _models(request: web.Request) -> web.Response:
    if "anthropic-version" in request.headers:
        return await anthropic_routes.list_models(request)
    return await openai_routes.list_models(request)


async def _recorded(request: web.Request) -> web.Response:
    return json_response(list(request.app[STATE].requests))


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE].requests.clear()
    return json_response({"ok": True})


async def _health(request: web.Request) -> web.Response:
    return json_response({"ok": True, "requests": len(request.app[STATE].requests)})


def create_app(max_recorded: int | None = None) -> web.Application:
    """The fake provider app; only the last ``max_recorded`` requests are kept (default: all)."""
    app = web.Application(middlewares=[_record], client_max_size=64 * 1024 * 1024)
    app[STATE] = FakeState(deque(maxlen=max_recorded))
    app.router.add_post("/v1/chat/completions", openai_routes.chat_completions)
    app.router.add_post("/v1/responses", openai_responses.responses)
    app.router.add_post("/v1/embeddings", openai_routes.embeddings)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/v1/models/{model}", openai_routes.get_model)
    app.router.add_post("/v1/messages", anthropic_routes.messages)
    app.router.add_post("/v1/messages/count_tokens", anthropic_routes.count_tokens)
    app.router.add_get("/_fake/requests", _recorded)
    app.router.add_post("/_fake/reset", _reset)
    app.router.add_get("/_fake/health", _health)
    return app


__all__ = ["STATE", "FakeState", "create_app"]
