"""Headers: what goes upstream, what comes back to the client, and the call's context.

Context headers (all optional, removed before forwarding)::

    X-Tokentrail-User, -Session, -Route, -Customer, -Environment, -Release
    X-Tokentrail-Tags: a,b,c             -> tokentrail.tags
    X-Tokentrail-Property-<name>: value  -> tokentrail.property.<name> (the attributes map)
    X-Tokentrail-Cache: true             -> opt in to the response cache (-Cache-Ttl: seconds)
    X-Tokentrail-Capture: true | false   -> flag this call's content for capture (or opt out)

A W3C ``traceparent`` header makes the recorded span a child of the caller's span.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PREFIX = b"x-tokentrail-"
_CONTEXT = {
    b"user": "user.id", b"session": "session.id", b"route": "tokentrail.route",
    b"customer": "tokentrail.customer", b"environment": "tokentrail.environment",
    b"release": "tokentrail.release",
}
_PROPERTY = b"property-"
MAX_VALUE = 1000

# Never forwarded upstream: hop-by-hop headers and those the HTTP client sets itself.
_DROP_UP = frozenset({b"host", b"content-length", b"connection", b"keep-alive", b"transfer-encoding", b"te",
                      b"upgrade", b"proxy-authorization", b"proxy-connection", b"trailer", b"expect"})
# Never passed back to the client: hop-by-hop, and what the gateway's own server adds.
_DROP_DOWN = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"date", b"server", b"trailer",
                        b"upgrade", b"proxy-connection"})
# Encodings the gateway can decode to read usage from a body; others are not asked for.
_ENCODINGS = frozenset({"gzip", "deflate", "identity"})
AUTH_HEADERS = frozenset({b"authorization", b"x-api-key", b"api-key"})


@dataclass(slots=True)
class Context:
    attributes: list[tuple[str, object]] = field(default_factory=list)
    cache: bool = False
    cache_ttl: float | None = None
    capture: bool | None = None  # None: the policy decides
    traceparent: str = ""


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _context_header(ctx: Context, name: bytes, value: bytes) -> None:
    suffix = name[len(PREFIX):]
    text = value.decode("utf-8", "replace")[:MAX_VALUE]
    key = _CONTEXT.get(suffix)
    if key:
        ctx.attributes.append((key, text))
    elif suffix == b"tags":
        tags = [t.strip() for t in text.split(",") if t.strip()]
        if tags:
            ctx.attributes.append(("tokentrail.tags", tags))
    elif suffix.startswith(_PROPERTY) and len(suffix) > len(_PROPERTY):
        ctx.attributes.append(("tokentrail.property." + suffix[len(_PROPERTY):].decode("latin-1"), text))
    elif suffix == b"cache":
        ctx.cache = _truthy(text)
    elif suffix == b"cache-ttl":
        try:
            ctx.cache_ttl = max(0.0, float(text))
        except ValueError:
            pass
    elif suffix == b"capture":
        ctx.capture = _truthy(text)


def split_request_headers(raw: list[tuple[bytes, bytes]],
                          strip_auth: bool) -> tuple[list[tuple[str, str]], Context]:
    """ASGI request headers -> (headers to send upstream, the call's context)."""
    up: list[tuple[str, str]] = []
    ctx = Context()
    for name, value in raw:
        if name.startswith(PREFIX):
            _context_header(ctx, name, value)
            continue
        if name in _DROP_UP:
            continue
        text = value.decode("latin-1")
        if name == b"accept-encoding":
            text = ", ".join(e for e in (p.strip() for p in text.split(",")) if e.split(";")[0] in _ENCODINGS)
            if not text:
                continue
        elif name == b"traceparent":
            ctx.traceparent = text
        elif strip_auth and name in AUTH_HEADERS:
            continue
        up.append((name.decode("latin-1"), text))
    return up, ctx


def response_headers(raw: tuple[tuple[bytes, bytes], ...], streamed: bool) -> list[tuple[bytes, bytes]]:
    """Upstream response headers to pass back (lower-cased); a stream drops its length."""
    out = []
    for name, value in raw:
        name = name.lower()
        if name in _DROP_DOWN or (streamed and name == b"content-length"):
            continue
        out.append((name, value))
    return out


def parse_traceparent(value: str) -> tuple[bytes, bytes] | None:
    """(trace id, parent span id) of a valid W3C traceparent, else None."""
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
    except ValueError:
        return None
    if not any(trace_id) or not any(span_id):
        return None
    return trace_id, span_id
