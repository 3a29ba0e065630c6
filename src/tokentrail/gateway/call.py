"""One proxied model call as the request path leaves it: raw bytes and timings, nothing parsed."""

from __future__ import annotations

from dataclasses import dataclass, field

from tokentrail.gateway.headers import Context
from tokentrail.gateway.upstreams import Upstream

# What went wrong on the gateway's side of a call (error.type of its span).
TIMEOUT = "APITimeoutError"  # no answer from upstream in time: the client got a 504
UNREACHABLE = "APIConnectionError"  # upstream refused or dropped the connection: the client got a 502
STREAM_ABORTED = "StreamAborted"  # upstream closed the stream mid-way: the client's connection is closed too
CLIENT_DISCONNECTED = "ClientDisconnected"  # the client left mid-stream: upstream was cancelled
GATEWAY_ERROR = "GatewayError"  # the gateway itself failed or stopped during the call


@dataclass(slots=True)
class Call:
    project: str
    upstream: Upstream
    operation: str
    request_body: bytes
    context: Context
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    start_ns: int  # wall clock
    started: float  # perf_counter at arrival
    status: int = 0
    streamed: bool = False
    body: bytes = b""  # the response body; for a stream, every byte forwarded (see StreamTap)
    content_encoding: str = ""
    upstream_request_id: str = ""
    ttft_s: float | None = None
    duration_s: float = 0.0
    cache_hit: bool = False
    failure: str = ""  # one of the constants above
    failure_message: str = ""
    truncated: bool = False  # a stream over the tap's limit: its middle was not kept
    chunks: list[bytes] = field(default_factory=list)

    @property
    def span_hex(self) -> str:
        return self.span_id.hex()

    def size(self) -> int:
        return len(self.request_body) + len(self.body) + sum(len(c) for c in self.chunks)


class StreamTap:
    """Keeps the bytes of a forwarded stream for the recorder: all of them up to ``limit``, then
    only the last ``tail`` bytes (usage comes at the end) and a flag that the middle is gone."""

    __slots__ = ("call", "kept", "limit", "tail_limit", "tail", "tail_size")

    def __init__(self, call: Call, limit: int = 8 << 20, tail: int = 256 << 10) -> None:
        self.call = call
        self.kept = 0
        self.limit = limit
        self.tail_limit = tail
        self.tail: list[bytes] = []
        self.tail_size = 0

    def add(self, chunk: bytes) -> None:
        if self.kept + len(chunk) <= self.limit:
            self.call.chunks.append(chunk)
            self.kept += len(chunk)
            return
        self.call.truncated = True
        self.tail.append(chunk)
        self.tail_size += len(chunk)
        while self.tail_size - len(self.tail[0]) >= self.tail_limit:
            self.tail_size -= len(self.tail.pop(0))

    def close(self) -> None:
        if self.tail:
            self.call.chunks.append(b"\n\n")  # the cut lands between two events
            self.call.chunks.extend(self.tail)
            self.tail = []
