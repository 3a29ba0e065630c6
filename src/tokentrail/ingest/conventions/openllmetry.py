"""OpenLLMetry (Traceloop; traceloop-sdk with opentelemetry-instrumentation-openai/-anthropic):
gen_ai.* plus llm.*, traceloop.* (older releases: llm.usage.*, gen_ai.usage.prompt_tokens).

User and session come from ``Traceloop.set_association_properties``. TTFT is a metric, and on
OpenAI streams each chunk is a span event (``gen_ai.content.completion.chunk``): the first one's time
minus the span start is the TTFT (Anthropic streams have no chunk events: their TTFT comes from the
anthropic SDK's own span). Anthropic's ``end_turn`` arrives already mapped to ``stop``."""

from tokentrail.ingest.conventions._expr import Expr

_CHUNK = "'gen_ai.content.completion.chunk'"

KEYS = {
    "provider": ("gen_ai.provider.name", "gen_ai.system"),
    "operation": ("gen_ai.operation.name",),
    "request_model": ("gen_ai.request.model",),
    "response_model": ("gen_ai.response.model",),
    "input_tokens": ("gen_ai.usage.input_tokens", "llm.usage.prompt_tokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "llm.usage.completion_tokens"),
    "cached_input_tokens": ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
    "cache_write_tokens": ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens"),
    "reasoning_tokens": ("gen_ai.usage.reasoning_tokens",),
    "streamed": ("gen_ai.is_streaming", "llm.is_streaming"),
    "ttft_ms": (Expr(
        f"if(has(sp.events.name, {_CHUNK}), toString(greatest(0, toInt64(arrayFirst((t, n) -> n = {_CHUNK}, "
        "sp.events.time_unix_nano, sp.events.name)) - toInt64(sp.start_time_unix_nano)) / 1e6), NULL)",
        "first `gen_ai.content.completion.chunk` event − span start"),),
    "finish_reason": ("gen_ai.response.finish_reasons", "llm.response.finish_reason"),
    "error_type": ("error.type",),
    "user_id": ("traceloop.association.properties.user_id",),
    "session_id": ("traceloop.association.properties.session_id",),
    "route": ("traceloop.workflow.name",),
    "environment": ("deployment.environment",),
    "input": ("gen_ai.input.messages", "traceloop.entity.input"),
    "output": ("gen_ai.output.messages", "traceloop.entity.output"),
}

KIND_VALUES = {
    "traceloop.span.kind": {"workflow": "chain", "task": "chain", "agent": "agent", "tool": "tool"},
    "llm.request.type": {"chat": "llm", "completion": "llm", "embedding": "embedding", "rerank": "retrieval"},
}

# older releases flatten messages into gen_ai.prompt.N.* / gen_ai.completion.N.*
CONTENT_KEYS = (r"^gen_ai\.(prompt|completion)\.\d+\.",)
