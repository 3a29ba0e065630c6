"""Langfuse Python SDK v3+ (OTel based; exports to ``/api/public/otel/v1/traces``):
langfuse.observation.* keys on its own spans, user.id/session.id from ``propagate_attributes``.

Usage is one JSON attribute (the provider's usage object as the client returned it, or
Langfuse's ``{"input": n, "output": m}``); TTFT is ``completion_start_time`` (an ISO time)
minus the span start; ``level`` ERROR marks a failed call. It sends no provider (taken from
the model name), no streaming flag (a ``completion_start_time`` means a stream), no error
type or HTTP status (the status message of the OpenAI/Anthropic clients has the code), and
a finish reason for streams only."""

from tokentrail.ingest.conventions._expr import Expr

_USAGE = "a['langfuse.observation.usage_details']"


def _usage(*paths: tuple[str, ...]) -> Expr:
    """The first of several JSON paths of the usage object that is a number."""
    picks = ", ".join("JSONExtract(" + _USAGE + ", " + ", ".join(f"'{p}'" for p in path) + ", 'Nullable(Float64)')"
                      for path in paths)
    doc = " / ".join(".".join(path) for path in paths)
    return Expr(f"toString(coalesce({picks}))", f"`langfuse.observation.usage_details` {doc}")


# Anthropic-style usage (``input``/``input_tokens`` beside ``cache_read_input_tokens`` /
# ``cache_creation_input_tokens``, no OpenAI ``prompt_tokens`` or ``*_details``): its input EXCLUDES the cache
_ANTHROPIC_USAGE = (f"(JSONHas({_USAGE}, 'cache_read_input_tokens') OR JSONHas({_USAGE}, 'cache_creation_input_tokens')) "
                    f"AND NOT JSONHas({_USAGE}, 'prompt_tokens') AND NOT JSONHas({_USAGE}, 'input_tokens_details') "
                    f"AND NOT JSONHas({_USAGE}, 'prompt_tokens_details')")

KEYS = {
    # no provider key: its spans' model name tells (gpt-*, o1..., text-embedding-* -> openai, claude-* -> anthropic ...)
    "provider": (Expr(
        "multiIf(a['langfuse.observation.type'] = '', NULL, match(lower(if(response_model != '', response_model, request_model)), "
        "'^(gpt-|o[1-9]|chatgpt|text-embedding-|davinci|babbage|dall-e|whisper|tts-|omni-moderation)'), 'openai', "
        "startsWith(lower(if(response_model != '', response_model, request_model)), 'claude'), 'anthropic', "
        "startsWith(lower(if(response_model != '', response_model, request_model)), 'gemini'), 'google', "
        "match(lower(if(response_model != '', response_model, request_model)), '^(mistral|codestral|ministral)'), "
        "'mistral', NULL)", "from the model name (its generations have no provider key)"),),
    "operation": (Expr(
        "multiIf(a['langfuse.observation.type'] = 'generation', 'chat', "
        "a['langfuse.observation.type'] = 'embedding', 'embeddings', NULL)",
        "`langfuse.observation.type` generation → chat, embedding → embeddings"),),
    # one model name: the requested one until the response comes, then the answered one (a dated snapshot);
    # the request parameters it records carry no model, so a successful call's request_model is that name too
    "request_model": ("langfuse.observation.model.name",),
    "response_model": (Expr(
        "if(a['langfuse.observation.type'] IN ('generation', 'embedding') AND sp.status.code != 2 "
        "AND a['langfuse.observation.level'] != 'ERROR', nullIf(a['langfuse.observation.model.name'], ''), NULL)",
        "`langfuse.observation.model.name` of a successful generation"),),
    "input_tokens": (Expr(
        f"if({_ANTHROPIC_USAGE}, toString(coalesce(JSONExtract({_USAGE}, 'input_tokens', 'Nullable(Float64)'), "
        f"JSONExtract({_USAGE}, 'input', 'Nullable(Float64)'), 0) + JSONExtractFloat({_USAGE}, 'cache_read_input_tokens') "
        f"+ JSONExtractFloat({_USAGE}, 'cache_creation_input_tokens')), NULL)",
        "Anthropic-style `usage_details`: input + cache_read_input_tokens + cache_creation_input_tokens",
        override=True), _usage(("prompt_tokens",), ("input_tokens",), ("input",)),),
    "usage_rule": (Expr(f"if({_ANTHROPIC_USAGE}, 'input+cache_read+cache_write', NULL)",
                        "Anthropic-style `usage_details`"),),
    "output_tokens": (_usage(("completion_tokens",), ("output_tokens",), ("output",)),),
    "cached_input_tokens": (_usage(("prompt_tokens_details", "cached_tokens"), ("input_tokens_details", "cached_tokens"),
                                   ("cache_read_input_tokens",), ("input_cached_tokens",)),),
    "cache_write_tokens": (_usage(("cache_creation_input_tokens",),),),
    "reasoning_tokens": (_usage(("completion_tokens_details", "reasoning_tokens"),
                                ("output_tokens_details", "reasoning_tokens"), ("output_reasoning_tokens",)),),
    # completion_start_time is a JSON-quoted ISO time: "\"2026-11-25T03:01:05.553736Z\""
    "ttft_ms": (Expr(
        "if(a['langfuse.observation.completion_start_time'] = '', NULL, toString(greatest(0, "
        "toUnixTimestamp64Nano(parseDateTime64BestEffort(replaceAll(a['langfuse.observation.completion_start_time'], "
        "'\"', ''), 6, 'UTC')) - toInt64(sp.start_time_unix_nano)) / 1e6))",
        "`langfuse.observation.completion_start_time` − span start"),),
    "finish_reason": ("langfuse.observation.metadata.finish_reason",),
    "error_type": (Expr("if(a['langfuse.observation.level'] = 'ERROR' AND sp.status.code != 2, 'error', NULL)",
                        "`langfuse.observation.level` ERROR"),),
    "user_id": ("user.id", "langfuse.user.id"),
    "session_id": ("session.id", "langfuse.session.id"),
    "environment": ("langfuse.environment",),
    "release": ("langfuse.release",),
    "input": ("langfuse.observation.input",),
    "output": ("langfuse.observation.output",),
}

KIND_VALUES = {
    "langfuse.observation.type": {
        "generation": "llm", "embedding": "embedding", "span": "chain", "chain": "chain", "agent": "agent",
        "tool": "tool", "retriever": "retrieval", "evaluator": "other", "guardrail": "other", "event": "other",
    },
}
