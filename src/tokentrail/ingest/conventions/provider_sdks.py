"""What the provider SDKs themselves send.

anthropic >= 2.x emits its own span (scope ``com.anthropic.sdk.python``, name
``anthropic.messages.create``) whenever a global OTel tracer provider exists, with gen_ai.*
keys (input tokens include the cache) and a few of its own. Under an instrumentation
library it is a second span of the same call: ``ingest/dedupe.py`` counts such a call once.

The openai and anthropic Python clients name the HTTP status in their errors' message: the status
message is the only place some libraries (OpenInference, OpenLLMetry, Langfuse) leave it. Two formats
are in use: ``Error code: 429 - {...}`` (openai, anthropic < 2.17) and ``429 <error.message>
(request_id: ..., type: ...)`` or ``429 status code (no body)`` (anthropic >= 2.17), which
``STATUS_MESSAGE_RE`` both read (the second only at the start of the message)."""

from tokentrail.ingest.conventions._expr import Expr

NATIVE_SCOPES = ("com.anthropic.sdk.python",)
# the HTTP status named by an official client's error message (a ClickHouse re2 pattern, one capture group)
STATUS_MESSAGE_RE = r"(?:Error code: |^)([45]\d{2})(?: |$)"


def status_from_message(message: str) -> str:
    """SQL: the HTTP status an official client's error message names (as a string), else NULL."""
    pattern = STATUS_MESSAGE_RE.replace("\\", "\\\\")
    return f"nullIf(extract({message}, '{pattern}'), '')"


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
        "coalesce(" + status_from_message("sp.status.message") + ", "
        + status_from_message("ev['exception.message']") + ")",
        "`Error code: NNN` or a leading `NNN ` in the status message or exception event")),
}
