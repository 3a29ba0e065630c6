"""The request path: raw ASGI that forwards ``/gateway/<upstream>/<path>`` and notes what happened.

It is raw ASGI, reached ahead of the app's routing (see router.py), because every
microsecond here is added to the user's call: it reads the body, rewrites a few headers, forwards with one
shared keep-alive ``aiohttp.ClientSession`` and passes the response back byte for byte.
Streams are forwarded chunk by chunk as they arrive. Nothing is parsed here: the raw bytes
and timings go to the recorder (record.py), which builds spans in another thread.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from types import ModuleType
from typing import Any

import aiohttp
import orjson
from starlette.requests import Request
from starlette.types import Receive, Scope, Send
from yarl import URL

from tokentrail.auth.keys import KEY_PREFIX
from tokentrail.errors import PayloadTooLarge, TokentrailError
from tokentrail.gateway import call as failures
from tokentrail.gateway.adapters import adapter_for
from tokentrail.gateway.cache import ResponseCache
from tokentrail.gateway.call import Call, StreamTap
from tokentrail.gateway.headers import (
    AUTH_HEADERS,
    Context,
    parse_traceparent,
    response_headers,
    split_request_headers,
)
from tokentrail.gateway.record import Recorder
from tokentrail.gateway.upstreams import Upstream
from tokentrail.server.auth import require
from tokentrail.server.runtime import Runtime

log = logging.getLogger("tokentrail.gateway")

MAX_BODY = 64 << 20
REQUEST_ID = b"x-tokentrail-request-id"
CACHE_STATUS = b"x-tokentrail-cache"
_JSON = [(b"content-type", b"application/json")]
_CACHE_VARY = frozenset({"authorization", "x-api-key", "api-key", "accept-encoding"})  # part of a cache key


def _our_key_in_auth(headers: list[tuple[bytes, bytes]]) -> bool:
    """A tokentrail key sent where the provider's key goes (it must never be forwarded upstream)."""
    prefix = KEY_PREFIX.encode()
    return any(name in AUTH_HEADERS and (value.startswith(prefix) or value.lower().startswith(b"bearer " + prefix))
               for name, value in headers)


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        part = message.get("body", b"")
        size += len(part)
        if size > MAX_BODY:
            raise PayloadTooLarge(f"request body is over {MAX_BODY} bytes")
        parts.append(part)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)


async def _send_all(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _new_ids(ctx: Context) -> tuple[bytes, bytes, bytes]:
    """(trace id, span id, parent span id): the caller's trace when it sent a traceparent."""
    span_id = (random.getrandbits(64) or 1).to_bytes(8, "big")
    parent = parse_traceparent(ctx.traceparent) if ctx.traceparent else None
    if parent:
        return parent[0], span_id, parent[1]
    return (random.getrandbits(128) or 1).to_bytes(16, "big"), span_id, b""


class Gateway:
    """Serves ``/gateway/...`` requests; ``start``/``stop`` run in the server's lifespan."""

    def __init__(self, runtime: Runtime, upstreams: dict[str, Upstream], *, capture: str, timeout: float,
                 cache: ResponseCache) -> None:
        self.runtime = runtime
        self.upstreams = upstreams
        self.adapters: dict[str, ModuleType] = {n: adapter_for(u.format) for n, u in upstreams.items()}
        self.timeout = timeout
        self.cache = cache
        self.recorder = Recorder(runtime, capture)
        self.session: aiohttp.ClientSession | None = None
        self.requests = 0
        self.passed_through = 0

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=self.timeout),
            auto_decompress=False, skip_auto_headers=("User-Agent", "Accept-Encoding"),
            cookie_jar=aiohttp.DummyCookieJar())
        self.recorder.start()

    async def stop(self) -> None:
        await asyncio.to_thread(self.recorder.stop)
        if self.session is not None:
            await self.session.close()

    def describe(self) -> dict[str, Any]:
        c = self.cache
        return {"upstreams": [u.describe() for u in self.upstreams.values()],
                "requests": self.requests, "passed_through": self.passed_through,
                "recorded": self.recorder.stats.recorded, "dropped": self.recorder.stats.dropped,
                "cache": {"entries": len(c), "bytes": c.bytes, "hits": c.hits, "misses": c.misses}}

    # -- ASGI ---------------------------------------------------------------------
    async def serve(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """Answer one HTTP request for ``path`` (what follows ``/gateway``)."""
        started = time.perf_counter()
        try:  # the calls it records are ingest; the project is the key's (or X-Tokentrail-Project's)
            principal = require(Request(scope), "ingest", query=False)
        except TokentrailError as e:
            return await _send_all(send, e.status, _JSON, orjson.dumps({"error": e.message}))
        name, _, rest = path.lstrip("/").partition("/")
        upstream = self.upstreams.get(name)
        if upstream is None:
            if not name:
                return await _send_all(send, 200, _JSON, orjson.dumps(self.describe()))
            known = ", ".join(self.upstreams)
            return await _send_all(send, 404, _JSON, orjson.dumps(
                {"error": f"no gateway upstream named {name!r} (configured: {known})"}))
        try:
            body = await _read_body(receive)
        except ClientGone:
            return
        except TokentrailError as e:
            return await _send_all(send, e.status, _JSON, orjson.dumps({"error": e.message}))
        await self._handle(scope, receive, send, upstream, "/" + rest, principal.project, body, started)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, upstream: Upstream, path: str,
                      project: str, body: bytes, started: float) -> None:
        self.requests += 1
        project = project or self.runtime.settings.default_project
        adapter = self.adapters[upstream.name]
        # the principal may use ``project`` (``require``): the project's provider key, if it has one, is its to use
        key = upstream.keys.get(project)
        if key is None and _our_key_in_auth(scope["headers"]):
            message = (f"the provider key for project {project!r} is not held by the gateway (upstream "
                       f"{upstream.name}): send the provider's key in Authorization and the tokentrail key in "
                       "X-Tokentrail-Key")  # in the provider's error format, so its client shows it
            return await _send_all(send, 400, _JSON, adapter.error_body(400, message, "invalid_request_error"))
        headers, ctx = split_request_headers(scope["headers"], strip_auth=key is not None)
        if key is not None:
            headers.append((adapter.AUTH_HEADER, adapter.auth_value(key)))
        headers.extend(upstream.headers)
        method = scope["method"]
        call = Call(project, upstream, adapter.operation(method, path) or "", body, ctx, *_new_ids(ctx),
                    start_ns=time.time_ns(), started=started)
        if not call.operation:
            self.passed_through += 1
        cache_key = None
        if ctx.cache and call.operation and self.cache.enabled:
            varying = [v for k, v in headers if k.lower() in _CACHE_VARY]
            cache_key = ResponseCache.key(project, upstream.name, method, path, scope["query_string"],
                                          *varying, body)
        try:
            if cache_key and await self._from_cache(send, call, cache_key):
                return
            await self._forward(send, receive, call, method, upstream.url(path, scope["query_string"]),
                                headers, cache_key)
        except BaseException as e:  # recorded as failed, then left to the server (500 or a closed connection)
            call.failure = call.failure or failures.GATEWAY_ERROR
            call.failure_message = call.failure_message or repr(e)
            raise
        finally:
            call.duration_s = time.perf_counter() - started
            if call.operation:
                self.recorder.add(call)

    async def _from_cache(self, send: Send, call: Call, key: bytes) -> bool:
        entry = self.cache.get(key)
        if entry is None:
            return False
        call.cache_hit, call.status, call.streamed = True, 200, entry.streamed
        call.body, call.content_encoding = entry.body, entry.content_encoding
        headers = [*entry.headers, (REQUEST_ID, call.span_hex.encode()), (CACHE_STATUS, b"hit")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if entry.streamed:
            call.ttft_s = time.perf_counter() - call.started
        await send({"type": "http.response.body", "body": entry.body, "more_body": False})
        return True

    async def _gateway_error(self, send: Send, call: Call, status: int, failure: str, message: str) -> None:
        """Answer for an upstream that did not: 502/504 in the provider's error format."""
        call.status, call.failure, call.failure_message = status, failure, message
        log.warning("gateway: %s %s: %s", call.upstream.name, failure, message)
        kind = "gateway_timeout" if status == 504 else "upstream_unreachable"
        body = self.adapters[call.upstream.name].error_body(status, message, kind)
        call.body = body
        headers = [*_JSON, (REQUEST_ID, call.span_hex.encode())] if call.operation else _JSON
        await _send_all(send, status, headers, body)

    async def _forward(self, send: Send, receive: Receive, call: Call, method: str, url: str,
                       headers: list[tuple[str, str]], cache_key: bytes | None) -> None:
        assert self.session is not None, "the gateway is not started"
        try:
            resp = await self.session.request(method, URL(url, encoded=True), headers=headers,
                                              data=call.request_body or None, allow_redirects=False)
        except TimeoutError:
            message = f"no answer from upstream {call.upstream.name} in {self.timeout:g} s"
            return await self._gateway_error(send, call, 504, failures.TIMEOUT, message)
        except aiohttp.ClientError as e:
            return await self._gateway_error(send, call, 502, failures.UNREACHABLE,
                                             f"upstream {call.upstream.name} unreachable: {e}")
        try:
            call.status = resp.status
            call.streamed = resp.headers.get("Content-Type", "").startswith("text/event-stream")
            call.content_encoding = resp.headers.get("Content-Encoding", "")
            call.upstream_request_id = resp.headers.get("x-request-id") or resp.headers.get("request-id", "")
            out_headers = response_headers(resp.raw_headers, call.streamed)
            if call.operation:
                out_headers.append((REQUEST_ID, call.span_hex.encode()))
            if cache_key:
                out_headers.append((CACHE_STATUS, b"miss"))
            if call.streamed:
                await self._stream(send, receive, call, resp, out_headers)
            else:
                try:
                    call.body = await resp.read()
                except TimeoutError:
                    message = "upstream body timed out"
                    return await self._gateway_error(send, call, 504, failures.TIMEOUT, message)
                except aiohttp.ClientError as e:
                    message = f"upstream body: {e}"
                    return await self._gateway_error(send, call, 502, failures.UNREACHABLE, message)
                await _send_all(send, resp.status, out_headers, call.body)
            if cache_key and resp.status == 200 and not call.failure:
                self._cache_put(call, cache_key, out_headers)
        finally:
            resp.release()

    def _cache_put(self, call: Call, key: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        body = call.body
        if call.streamed:
            if call.truncated:
                return
            body = b"".join(call.chunks)
            if not any(end in body[-512:] for end in self.adapters[call.upstream.name].STREAM_END):
                return
        kept = [(k, v) for k, v in headers if k not in (REQUEST_ID, CACHE_STATUS)]
        self.cache.put(key, kept, body, call.streamed, call.content_encoding, call.context.cache_ttl)

    async def _stream(self, send: Send, receive: Receive, call: Call, resp: aiohttp.ClientResponse,
                      headers: list[tuple[bytes, bytes]]) -> None:
        """Forward an event stream as it arrives; a client that leaves cancels the upstream call."""
        task = asyncio.current_task()
        assert task is not None
        state = {"done": False, "client_gone": False}

        async def watch_client() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not state["done"]:
                state["client_gone"] = True
                task.cancel()

        watcher = asyncio.get_running_loop().create_task(watch_client())
        tap = StreamTap(call)
        try:
            await send({"type": "http.response.start", "status": resp.status, "headers": headers})
            async for chunk in resp.content.iter_any():
                if call.ttft_s is None:
                    call.ttft_s = time.perf_counter() - call.started
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                tap.add(chunk)
            state["done"] = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not state["client_gone"]:
                call.failure, call.failure_message = failures.GATEWAY_ERROR, "the gateway stopped mid-stream"
                resp.close()
                raise
            task.uncancel()
            call.failure = failures.CLIENT_DISCONNECTED
            call.failure_message = "the client closed the connection"
            resp.close()
        except (aiohttp.ClientError, TimeoutError) as e:
            # Upstream cut the stream: end ours the same way (the server closes the connection when
            # the app returns without finishing the response), so the client sees the failure too.
            timed_out = isinstance(e, TimeoutError)
            call.failure = failures.TIMEOUT if timed_out else failures.STREAM_ABORTED
            call.failure_message = f"upstream stream {'timed out' if timed_out else 'cut'}: {e!r}"
            log.warning("gateway: %s stream from %s ended early: %r", call.operation, call.upstream.name, e)
            resp.close()
        finally:
            state["done"] = True
            watcher.cancel()
            tap.close()
