"""OpenTelemetry GenAI semantic conventions (gen_ai.*) and general OTel keys."""

KEYS = {
    "provider": ("gen_ai.provider.name", "gen_ai.system"),
    "operation": ("gen_ai.operation.name",),
    "request_model": ("gen_ai.request.model",),
    "response_model": ("gen_ai.response.model",),
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "cached_input_tokens": ("gen_ai.usage.cache_read.input_tokens",),
    "cache_write_tokens": ("gen_ai.usage.cache_creation.input_tokens",),
    "reasoning_tokens": ("gen_ai.usage.reasoning.output_tokens",),
    "ttft_ms": (("gen_ai.response.time_to_first_chunk", 1000.0),),
    "finish_reason": ("gen_ai.response.finish_reasons",),
    "error_type": ("error.type",),
    "http_status": ("http.response.status_code", "http.status_code"),
    "user_id": ("user.id", "enduser.id"),
    "session_id": ("session.id", "gen_ai.conversation.id"),
    "environment": ("deployment.environment.name", "deployment.environment"),
    "release": ("service.version",),
    "service": ("service.name",),
    "input": ("gen_ai.input.messages", "gen_ai.prompt"),
    "output": ("gen_ai.output.messages", "gen_ai.completion"),
}

KIND_VALUES = {
    "gen_ai.operation.name": {
        "chat": "llm", "text_completion": "llm", "generate_content": "llm", "responses": "llm",
        "completion": "llm", "embeddings": "embedding", "embedding": "embedding",
        "execute_tool": "tool", "invoke_agent": "agent", "create_agent": "agent",
    },
}
