"""OpenInference (Arize Phoenix; openinference-instrumentation-openai/-anthropic): llm.*,
openinference.span.kind, input/output.value, user.id/session.id via ``using_attributes``.

Sends no error type or HTTP status (the ``exception`` event and the status message have
them), no streaming flag (``llm.invocation_parameters`` has ``"stream": true``), and TTFT
only as the time of its ``First Token Stream Event`` span event (OpenAI streams). Its
``llm.model_name`` is the ANSWERED model once the response came (a dated snapshot such as
``gpt-4o-mini-2024-07-18``); the requested one is in ``llm.invocation_parameters``."""

from tokentrail.ingest.conventions._expr import Expr

_FIRST_TOKEN = "'First Token Stream Event'"

KEYS = {
    "provider": ("llm.provider", "llm.system"),
    "operation": (Expr(
        "multiIf(a['openinference.span.kind'] = 'LLM', 'chat', a['openinference.span.kind'] = 'EMBEDDING', "
        "'embeddings', NULL)", "`openinference.span.kind` LLM → chat, EMBEDDING → embeddings"),),
    # llm.model_name is filled from the request, then overwritten from the response: the model the app asked
    # for is in the invocation parameters (tried before any key: openinference's GenAI mode may also write
    # the answered model to gen_ai.request.model), else llm.request.model_name (Anthropic)
    "request_model": (Expr("nullIf(JSONExtractString(a['llm.invocation_parameters'], 'model'), '')",
                           "`llm.invocation_parameters` model (first)", override=True),
                      Expr("nullIf(JSONExtractString(a['embedding.invocation_parameters'], 'model'), '')",
                           "`embedding.invocation_parameters` model (first)", override=True),
                      "llm.request.model_name", "llm.model_name", "embedding.model_name"),
    "response_model": ("llm.response.model_name",
                       Expr("if(sp.status.code != 2, nullIf(a['llm.model_name'], ''), NULL)",
                            "`llm.model_name` of a successful call (filled from the response)"),
                       Expr("if(sp.status.code != 2, nullIf(a['embedding.model_name'], ''), NULL)",
                            "`embedding.model_name` of a successful call")),
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
    # without input.value / output.value (hidden by a TraceConfig, or an instrumentor that sends only the
    # messages): the flattened llm.*_messages.* keys as one JSON object (the conversation view unflattens it)
    "input": ("input.value", Expr(
        "nullIf(toJSONString(mapFilter((k, v) -> startsWith(k, 'llm.input_messages.') OR startsWith(k, "
        "'llm.prompts.'), a)), '{}')",
        "the flattened `llm.input_messages.*` / `llm.prompts.*` keys as one JSON object")),
    "output": ("output.value", Expr(
        "nullIf(toJSONString(mapFilter((k, v) -> startsWith(k, 'llm.output_messages.'), a)), '{}')",
        "the flattened `llm.output_messages.*` keys as one JSON object")),
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
