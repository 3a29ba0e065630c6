"""OpenInference (Arize Phoenix) keys: llm.*, openinference.span.kind, input/output.value."""

KEYS = {
    "provider": ("llm.provider", "llm.system"),
    "request_model": ("llm.model_name",),
    "input_tokens": ("llm.token_count.prompt",),
    "output_tokens": ("llm.token_count.completion",),
    "cached_input_tokens": ("llm.token_count.prompt_details.cache_read",),
    "cache_write_tokens": ("llm.token_count.prompt_details.cache_write",),
    "reasoning_tokens": ("llm.token_count.completion_details.reasoning",),
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
