"""What the provider SDKs themselves send.

anthropic >= 2.x emits its own span (scope ``com.anthropic.sdk.python``, name
``anthropic.messages.create``) whenever a global OTel tracer provider exists, with gen_ai.*
keys (input tokens include the cache) and a few of its own. Under an instrumentation
library it is a second span of the same call: ``ingest/dedupe.py`` counts such a call once.

The openai and anthropic Python clients name the HTTP status in their errors' message
(``Error code: 429 - {...}``): the status message is the only place some libraries
(OpenInference, Langfuse) leave it."""

from tokentrail.ingest.conventions._expr import Expr

NATIVE_SCOPES = ("com.anthropic.sdk.python",)
# HTTP status -> the exception the official clients raise for it (the same table as gateway/spans.py), the
# error type of an LLM call that has a status and no type
HTTP_ERRORS = {400: "BadRequestError", 401: "AuthenticationError", 403: "PermissionDeniedError",
               404: "NotFoundError", 409: "ConflictError", 413: "RequestTooLargeError",
               422: "UnprocessableEntityError", 429: "RateLimitError", 529: "OverloadedError"}

KEYS = {
    "provider": ("gen_ai.provider.name",),
    "request_model": ("gen_ai.request.model",),
    "response_model": ("gen_ai.response.model",),
    "input_tokens": ("gen_ai.usage.input_tokens",),
    "output_tokens": ("gen_ai.usage.output_tokens",),
    "cached_input_tokens": ("gen_ai.usage.cache_read.input_tokens",),
    "cache_write_tokens": ("gen_ai.usage.cache_write.input_tokens",),
    "streamed": ("gen_ai.request.stream",),
    "ttft_ms": (("gen_ai.response.time_to_first_chunk", 1000.0),),
    "finish_reason": ("anthropic.message.stop_reason",),
    "error_type": ("error.type",),
    "http_status": ("http.response.status_code", Expr(
        "nullIf(extract(concat(sp.status.message, ' ', ev['exception.message']), 'Error code: (\\\\d{3})'), '')",
        "`Error code: NNN` in the status message or exception event")),
}
