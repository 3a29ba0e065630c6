"""Error responses in the providers' real JSON formats."""

from __future__ import annotations

from aiohttp import web

from .streaming import json_response

# status -> (type, code, message)
_OPENAI: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "fake-llm: simulated invalid request (error-400)."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided: sk-fake. You can find your API key at https://platform.openai.com/account/api-keys.",
    ),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model `{model}` does not exist or you do not have access to it.",
    ),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for {model} in organization org-fake on requests per min (RPM): Limit 3, Used 3, "
        "Requested 1. Please try again in {retry_after}s. Visit https://platform.openai.com/account/rate-limits "
        "to learn more.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
_ANTHROPIC: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "fake-llm: simulated invalid request (error-400)."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: {model}"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "This request would exceed the rate limit for your organization (org-fake) of 50 requests per minute. "
        "Please try again in {retry_after}s.",
    ),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
_RETRYABLE = {429, 503, 529}


def request_id(seq: int) -> str:
    return f"req_fake{seq}"


def openai_headers(seq: int) -> dict[str, str]:
    return {
        "x-request-id": request_id(seq),
        "openai-organization": "org-fake",
        "openai-processing-ms": "1",
        "openai-version": "2020-10-01",
        "x-ratelimit-limit-requests": "10000",
        "x-ratelimit-remaining-requests": "9999",
        "x-ratelimit-limit-tokens": "10000000",
        "x-ratelimit-remaining-tokens": "9999000",
    }


def anthropic_headers(seq: int) -> dict[str, str]:
    return {"request-id": request_id(seq), "anthropic-organization-id": "org-fake"}


def openai_error_body(
    status: int,
    message: str | None = None,
    *,
    model: str = "",
    retry_after: int = 1,
    param: str | None = None,
) -> dict:
    kind, code, default = _OPENAI.get(
        status,
        ("server_error" if status >= 500 else "invalid_request_error", None, f"fake-llm: HTTP {status}"),
    )
    text = message or default.format(model=model, retry_after=retry_after)
    return {"error": {"message": text, "type": kind, "param": param, "code": code}}


def anthropic_error_body(
    status: int, message: str | None = None, *, model: str = "", retry_after: int = 1, seq: int = 0
) -> dict:
    kind, default = _ANTHROPIC.get(
        status, ("api_error" if status >= 500 else "invalid_request_error", f"fake-llm: HTTP {status}")
    )
    text = message or default.format(model=model, retry_after=retry_after)
    return {"type": "error", "error": {"type": kind, "message": text}, "request_id": request_id(seq)}


def openai_error(
    status: int,
    message: str | None = None,
    *,
    seq: int,
    model: str = "",
    retry_after: int = 1,
    param: str | None = None,
) -> web.Response:
    headers = openai_headers(seq)
    if status in _RETRYABLE:
        headers |= {"retry-after": str(retry_after), "x-ratelimit-remaining-requests": "0"}
    body = openai_error_body(status, message, model=model, retry_after=retry_after, param=param)
    return json_response(body, status=status, headers=headers)


def anthropic_error(
    status: int, message: str | None = None, *, seq: int, model: str = "", retry_after: int = 1
) -> web.Response:
    headers = anthropic_headers(seq) | {
        "x-should-retry": "true" if status in _RETRYABLE or status >= 500 else "false"
    }
    if status in _RETRYABLE:
        headers |= {"retry-after": str(retry_after), "anthropic-ratelimit-requests-remaining": "0"}
    body = anthropic_error_body(status, message, model=model, retry_after=retry_after, seq=seq)
    return json_response(body, status=status, headers=headers)


def is_anthropic_path(path: str) -> bool:
    return path.startswith("/v1/messages")


def error_for_path(path: str, status: int, message: str, *, seq: int) -> web.Response:
    if is_anthropic_path(path):
        return anthropic_error(status, message, seq=seq)
    return openai_error(status, message, seq=seq)
