"""What the gateway forwards, what it keeps as context, and what it passes back."""

from __future__ import annotations

from tokentrail.gateway.headers import parse_traceparent, response_headers, split_request_headers


def test_context_headers_are_kept_and_not_forwarded() -> None:
    raw = [
        (b"host", b"gw"),
        (b"authorization", b"Bearer sk"),
        (b"content-length", b"10"),
        (b"x-tokentrail-user", b"u1"),
        (b"x-tokentrail-tags", b" a, ,b "),
        (b"x-tokentrail-property-team", b"t"),
        (b"x-tokentrail-cache", b"yes"),
        (b"x-tokentrail-cache-ttl", b"30"),
        (b"x-tokentrail-capture", b"0"),
        (b"accept-encoding", b"gzip, br, zstd"),
        (b"traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"),
    ]
    up, ctx = split_request_headers(raw, strip_auth=False)
    assert [n for n, _ in up] == ["authorization", "accept-encoding", "traceparent"]
    assert dict(up)["accept-encoding"] == "gzip"
    assert ctx.attributes == [
        ("user.id", "u1"),
        ("tokentrail.tags", ["a", "b"]),
        ("tokentrail.property.team", "t"),
    ]
    assert (ctx.cache, ctx.cache_ttl, ctx.capture) == (True, 30.0, False)
    assert parse_traceparent(ctx.traceparent) == (b"\x11" * 16, b"\x22" * 8)


def test_client_key_is_dropped_when_the_gateway_holds_one() -> None:
    up, _ = split_request_headers(
        [(b"authorization", b"Bearer x"), (b"x-api-key", b"y"), (b"accept", b"*/*")], True
    )
    assert up == [("accept", "*/*")]


def test_response_headers_drop_hop_by_hop_and_server_headers() -> None:
    raw = (
        (b"Content-Type", b"text/event-stream"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Date", b"x"),
        (b"Server", b"up"),
        (b"Content-Length", b"5"),
        (b"retry-after", b"7"),
    )
    assert response_headers(raw, streamed=True) == [
        (b"content-type", b"text/event-stream"),
        (b"retry-after", b"7"),
    ]
    assert (b"content-length", b"5") in response_headers(raw, streamed=False)


def test_invalid_traceparents_are_ignored() -> None:
    for value in (
        "",
        "00-xyz-abc-01",
        "00-" + "0" * 32 + "-" + "1" * 16 + "-01",
        "00-" + "g" * 32 + "-" + "1" * 16,
    ):
        assert parse_traceparent(value) is None
