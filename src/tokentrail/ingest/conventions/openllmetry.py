"""OpenLLMetry (Traceloop) keys: gen_ai.* plus llm.* and traceloop.*."""

KEYS = {
    "cached_input_tokens": ("gen_ai.usage.cache_read_input_tokens",),
    "cache_write_tokens": ("gen_ai.usage.cache_creation_input_tokens",),
    "reasoning_tokens": ("gen_ai.usage.reasoning_tokens",),
    "input_tokens": ("llm.usage.prompt_tokens",),
    "output_tokens": ("llm.usage.completion_tokens",),
    "streamed": ("llm.is_streaming",),
    "finish_reason": ("llm.response.finish_reason",),
    "user_id": ("traceloop.association.properties.user_id",),
    "session_id": ("traceloop.association.properties.session_id",),
    "route": ("traceloop.workflow.name",),
    "input": ("traceloop.entity.input",),
    "output": ("traceloop.entity.output",),
}

KIND_VALUES = {
    "traceloop.span.kind": {"workflow": "chain", "task": "chain", "agent": "agent", "tool": "tool"},
    "llm.request.type": {"chat": "llm", "completion": "llm", "embedding": "embedding", "rerank": "retrieval"},
}
