"""Scenario parsing and deterministic reply planning, shared by the OpenAI and Anthropic routes.

The rules implemented here are documented in :mod:`tests.fake_llm.server`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

SCENARIO_HEADER = "X-Fake-Scenario"
BASE_SENTENCE = "This is a deterministic reply from the fake LLM server."
BASE_WORDS: tuple[str, ...] = tuple(BASE_SENTENCE.split())
TOOL_CALL_TOKENS = 10  # completion tokens charged per tool call
DEFAULT_ARGUMENT_CHUNKS = 3  # stream deltas per tool call when `chunks:<n>` is not given

_MAGIC_RE = re.compile(r"\[fake:([^\]]*)\]", re.IGNORECASE)
_SEPARATORS_RE = re.compile(r"[\s,+]+")
_ERROR_RE = re.compile(r"error-([1-5]\d\d)")

_FLAGS = {"no-usage": "no_usage", "echo": "echo", "no-tool-call": "no_tool_call"}
_NUMBERS = {
    "delay": "delay_ms",
    "slow-first-token": "slow_first_token_ms",
    "chunk-delay": "chunk_delay_ms",
    "chunks": "chunks",
    "abort-after": "abort_after",
    "stream-error-after": "stream_error_after",
    "words": "words",
    "tool-calls": "tool_calls",
    "cached": "cached",
    "cache-write": "cache_write",
    "reasoning": "reasoning",
    "prompt-tokens": "prompt_tokens",
    "retry-after": "retry_after",
}


class ScenarioError(ValueError):
    """An unknown or malformed scenario token (answered with HTTP 400)."""


@dataclass
class Scenario:
    error: int | None = None
    retry_after: int = 1
    delay_ms: int = 0
    slow_first_token_ms: int = 0
    chunk_delay_ms: int = 0
    chunks: int | None = None
    abort_after: int | None = None
    stream_error_after: int | None = None
    no_usage: bool = False
    echo: bool = False
    no_tool_call: bool = False
    words: int | None = None
    tool_calls: int = 1
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0
    prompt_tokens: int | None = None

    def apply(self, token: str) -> None:
        token = token.strip().lower()
        if not token:
            return
        if match := _ERROR_RE.fullmatch(token):
            self.error = int(match[1])
            return
        name, has_value, value = token.partition(":")
        if name in _FLAGS and not has_value:
            setattr(self, _FLAGS[name], True)
            return
        if name in _NUMBERS and has_value:
            if not value.isdigit():
                raise ScenarioError(f"fake-llm: scenario {token!r} needs a non-negative integer value")
            setattr(self, _NUMBERS[name], int(value))
            return
        raise ScenarioError(f"fake-llm: unknown scenario {token!r}")


def strip_magic(text: str) -> str:
    return _MAGIC_RE.sub(" ", text)


# what the real providers answer in the response's ``model`` for an alias: a dated snapshot, so a test
# can tell the requested model (request_model) from the one that answered (response_model)
DATED_MODELS = {
    "gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14", "o3-mini": "o3-mini-2025-01-31",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001", "claude-sonnet-4-6": "claude-sonnet-4-6-20260217",
    "claude-opus-4-7": "claude-opus-4-7-20260416",
}


def dated(model: str) -> str:
    """The model name a provider answers with for the requested ``model`` (embeddings answer as asked)."""
    return DATED_MODELS.get(model, model)


def parse_scenario(model: str, header: str | None, last_user_text: str) -> tuple[Scenario, str]:
    """Build the scenario from the model suffix, the magic word and the header (later sources win).

    Returns the scenario and the model name without its ``+scenario`` suffix.
    """
    base_model, _, suffix = model.partition("+")
    scenario = Scenario()
    sources = [suffix, *_MAGIC_RE.findall(last_user_text), header or ""]
    for source in sources:
        for token in _SEPARATORS_RE.split(source):
            scenario.apply(token)
    return scenario, base_model


def content_texts(content: Any) -> list[str]:
    """Text of a message content: a string, or a list of parts/blocks with ``text`` (or nested ``content``)."""
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif part.get("type") == "tool_result":
                    texts.extend(content_texts(part.get("content")))
    return texts


def count_words(texts: list[str]) -> int:
    return sum(len(text.split()) for text in texts)


def example_from_schema(schema: Any) -> Any:
    """A deterministic value matching a JSON schema (used as tool call arguments)."""
    if not isinstance(schema, dict):
        return "fake"
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return example_from_schema(schema[key][0])
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        names = schema.get("required") or list(properties)
        return {name: example_from_schema(properties.get(name, {})) for name in names}
    if kind == "array":
        return [example_from_schema(schema.get("items", {}))]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind, "fake")


def split_evenly(items: list[Any] | str, parts: int) -> list[Any]:
    """Split a list or string into ``parts`` consecutive, nearly equal, non-empty slices."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    slices, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        slices.append(items[start:end])
        start = end
    return slices


@dataclass
class ToolCall:
    id: str
    name: str
    input: Any
    arguments: str  # JSON text of ``input``
    pieces: list[str]  # stream deltas of ``arguments``


@dataclass
class Reply:
    text: str
    text_pieces: list[str]
    tool_calls: list[ToolCall]
    finish: str  # "stop" | "length" | "tool_calls"
    prompt_tokens: int
    completion_tokens: int  # includes reasoning tokens
    reasoning_tokens: int
    cached_tokens: int
    cache_write_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def plan_reply(
    scenario: Scenario,
    *,
    prompt_texts: list[str],
    last_user_text: str,
    tools: list[tuple[str, Any]],
    tool_mode: str = "auto",
    forced_tool: str | None = None,
    after_tool_result: bool = False,
    max_tokens: int | None = None,
    call_id_prefix: str = "call_",
    seq: int = 0,
) -> Reply:
    """Decide the reply (text or tool calls) and its exact token counts.

    ``tools`` is a list of (name, JSON schema); ``tool_mode`` is "auto", "none" or "required";
    ``forced_tool`` names the tool the request's tool_choice forces.
    """
    prompt = scenario.prompt_tokens if scenario.prompt_tokens is not None else count_words(prompt_texts)
    cached = min(scenario.cached, prompt)
    cache_write = min(scenario.cache_write, prompt - cached)
    usage = {
        "prompt_tokens": prompt,
        "reasoning_tokens": scenario.reasoning,
        "cached_tokens": cached,
        "cache_write_tokens": cache_write,
    }
    forced = forced_tool is not None or tool_mode == "required"
    wants_tool = tools and tool_mode != "none" and not scenario.no_tool_call
    if wants_tool and (forced or not after_tool_result):
        by_name = dict(tools)
        calls = []
        for index in range(max(1, scenario.tool_calls)):
            name = forced_tool if forced_tool in by_name else tools[index % len(tools)][0]
            value = example_from_schema(by_name[name] or {"type": "object"})
            arguments = json.dumps(value, separators=(",", ":"))
            pieces = split_evenly(arguments, scenario.chunks or DEFAULT_ARGUMENT_CHUNKS)
            calls.append(ToolCall(f"{call_id_prefix}fake{seq}_{index}", name, value, arguments, pieces))
        completion = TOOL_CALL_TOKENS * len(calls) + scenario.reasoning
        return Reply("", [], calls, "tool_calls", completion_tokens=completion, **usage)

    source = list(BASE_WORDS)
    if scenario.echo:
        source = strip_magic(last_user_text).split() or source
    target = scenario.words if scenario.words is not None else len(source)
    target = max(target, scenario.chunks or 0)
    words = [source[i % len(source)] for i in range(target)]
    finish = "stop"
    if isinstance(max_tokens, int) and len(words) > max_tokens:
        words, finish = words[: max(max_tokens, 0)], "length"
    groups = split_evenly(words, scenario.chunks or len(words)) if words else []
    pieces = [(" " if i else "") + " ".join(group) for i, group in enumerate(groups)]
    completion = len(words) + scenario.reasoning
    return Reply(" ".join(words), pieces, [], finish, completion_tokens=completion, **usage)
