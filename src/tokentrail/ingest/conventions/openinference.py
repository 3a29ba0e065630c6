"""OpenInference (Arize Phoenix; openinference-instrumentation-openai/-anthropic): llm.*,
openinference.span.kind, input/output.value, user.id/session.id via ``using_attributes``.

Sends no error type or HTTP status (the ``exception`` event and the status message have
them), no streaming flag (``llm.invocation_parameters`` has ``"stream": true``), and TTFT
only as the time of its ``First Token Stream Event`` span event (OpenAI streams)."""

from tokentrail.ingest.conventions._expr import Expr

_FIRST_TOKEN = "'First Token Stream Event'"

KEYS = {
    "provider": ("llm.provider", "llm.system"),
    "operation": (Expr(
        "multiIf(a['openinference.span.kind'] = 'LLM', 'chat', a['openinference.span.kind'] = 'EMBEDDING', "
        "'embeddings', NULL)", "`openinference.span.kind` LLM → chat, EMBEDDING → embeddings"),),
    "request_model": ("llm.model_name", "llm.request.model_name", "embedding.model_name", Expr(
        "JSONExtractString(a['llm.invocation_parameters'], 'model')", "`llm.invocation_parameters` model")),
    "response_model": ("llm.response.model_name",),
    "input_tokens": ("llm.token_count.prompt",),
    "output_tokens": ("llm.token_count.completion",),
    "cached_input_tokens": ("llm.token_count.prompt_details.cache_read",),
    "cache_write_tokens": ("llm.token_count.prompt_details.cache_write",),
    "reasoning_tokens": ("llm.token_count.completion_details.reasoning",),
    # ms from the span's start to its "First Token Stream Event" event
    "ttft_ms": (Expr(
        f"if(has(sp.events.name, {_FIRST_TOKEN}), toString(greatest(0, toInt64(arrayFirst((t, n) -> n = "
        f"{_FIRST_TOKEN}, sp.events.time_unix_nano, sp.events.name)) - toInt64(sp.start_time_unix_nano)) / 1e6), "
        "NULL)", "event `First Token Stream Event` − span start"),),
    "streamed": (Expr("if(JSONExtractBool(a['llm.invocation_parameters'], 'stream'), 'true', NULL)",
                      "`llm.invocation_parameters` has `\"stream\": true`"),),
    "finish_reason": ("llm.finish_reason",),
    "user_id": ("user.id",),
    "session_id": ("session.id",),
    "tags": ("tag.tags",),
    "input": ("input.value",),
    "output": ("output.value",),
}

KIND_VALUES = {
    "openinference.span.kind": {
        "LLM": "llm", "EMBEDDING": "embedding", "TOOL": "tool", "RETRIEVER": "retrieval",
        "RERANKER": "retrieval", "AGENT": "agent", "CHAIN": "chain", "GUARDRAIL": "other",
        "EVALUATOR": "other", "UNKNOWN": "other",
    },
}

# the same text as input.value/output.value, flattened; embedding vectors (every float)
CONTENT_KEYS = (r"^llm\.(input|output)_messages\.", r"^llm\.prompts\.", r"^embedding\.embeddings\.")
