"""The gateway: OpenAI- and Anthropic-compatible proxy routes that record every model call.

A client changes only its ``base_url`` (``<server>/gateway/openai/v1``,
``<server>/gateway/anthropic``, ``<server>/gateway/<any configured upstream>/v1``). Where
each question is answered:

- upstreams.py: which upstreams exist (built-in openai/anthropic + the ``gateway_config`` file)
- headers.py:   what is forwarded, what comes back, the call's context headers
- forward.py:   the request path (ASGI): forward, stream, time; no parsing
- call.py:      the raw record of one call; the stream tap
- adapters/:    per wire format: which paths are model calls, usage/model/errors from the bodies
- tokens.py:    token estimates when a provider reports none
- spans.py:     a call -> one OTLP span; the content capture policy
- otlp.py:      the span's protobuf bytes, written directly (fast)
- record.py:    the bounded buffer and the thread that spools spans in batches
- cache.py:     the opt-in exact-match response cache
- router.py:    how the server mounts it (ahead of the app's routing) and starts/stops it
"""

from tokentrail.gateway.router import install

__all__ = ["install"]
