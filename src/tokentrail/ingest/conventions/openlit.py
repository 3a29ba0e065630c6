"""OpenLIT (openlit.init): gen_ai.* semconv keys plus a few of its own.

It reports Anthropic ``input_tokens`` as Anthropic does, *without* the cache reads and
writes (every other library, and tokentrail's ``input_tokens`` column, include them), and
sets ``gen_ai.server.time_to_first_token`` on non-streaming calls too (there it is the
whole latency): so it is TTFT only when ``gen_ai.request.stream`` is true. User and
session are whatever ``openlit.using_attributes`` sets (``user.id``, ``session.id``)."""

from tokentrail.ingest.conventions._expr import Expr

_ANTHROPIC_SCOPE = "'openlit.instrumentation.anthropic'"

KEYS = {
    "provider": ("gen_ai.provider.name",),
    "operation": ("gen_ai.operation.name",),
    "request_model": ("gen_ai.request.model",),
    "response_model": ("gen_ai.response.model",),
    # input + cache read + cache write, for its Anthropic spans only (openlit <= 1.45 at least)
    "input_tokens": (Expr(
        f"if(scope = {_ANTHROPIC_SCOPE} AND a['gen_ai.usage.input_tokens'] != '', toString("
        "toFloat64OrZero(a['gen_ai.usage.input_tokens']) + toFloat64OrZero(a['gen_ai.usage.cache_read.input_tokens'])"
        " + toFloat64OrZero(a['gen_ai.usage.cache_creation.input_tokens'])), NULL)",
        "Anthropic: `gen_ai.usage.input_tokens` + cache read + cache creation", override=True),
        "gen_ai.usage.input_tokens"),
    "usage_rule": (Expr(f"if(scope = {_ANTHROPIC_SCOPE} AND a['gen_ai.usage.input_tokens'] != '', "
                        "'input+cache_read+cache_write', NULL)", "Anthropic spans"),),
    "output_tokens": ("gen_ai.usage.output_tokens",),
    "cached_input_tokens": ("gen_ai.usage.cache_read.input_tokens",),
    "cache_write_tokens": ("gen_ai.usage.cache_creation.input_tokens",),
    "streamed": ("gen_ai.request.stream",),
    "ttft_ms": (Expr("if(a['gen_ai.request.stream'] = 'true', "
                     "toString(toFloat64OrNull(a['gen_ai.server.time_to_first_token']) * 1000), NULL)",
                     "`gen_ai.server.time_to_first_token` (s) when `gen_ai.request.stream` is true"),),
    "finish_reason": ("gen_ai.response.finish_reasons",),
    "error_type": ("error.type",),
    "user_id": ("user.id",),
    "session_id": ("session.id",),
    "environment": ("deployment.environment",),
    "service": ("service.name",),
    "input": ("gen_ai.input.messages",),
    "output": ("gen_ai.output.messages",),
}
