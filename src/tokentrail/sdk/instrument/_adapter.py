"""What a provider adapter tells the generic wrapper. Adding a provider is one small adapter module.

Only ``routes`` and ``is_token`` are used on the app's thread; every other method runs
in the export thread and reads the request body (a dict) and the parsed response or the
stream's chunks (objects, or dicts for raw responses: use ``g``). ``operation`` below is the
adapter's own name of the API called (a value of ``routes``).
"""

from __future__ import annotations

import importlib
from typing import Any


def g(obj: Any, name: str, default: Any = None) -> Any:
    """Attribute or key ``name`` of ``obj`` (responses are objects, raw responses dicts)."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


class Adapter:
    provider = ""
    routes: dict[str, tuple[str, str]] = {}  # request path -> (api, tokentrail.kind)
    operation_names: dict[str, str] = {}  # api -> gen_ai.operation.name (default: the api's name)

    def is_token(self, chunk: Any) -> bool:
        """True for the first chunk that carries generated content (TTFT); called until it is."""
        return True

    def request_attributes(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        return {}

    def response_attributes(self, operation: str, result: Any) -> dict[str, Any]:
        return {}

    def stream_attributes(self, operation: str, chunks: list[Any], body: dict[str, Any],
                          count: int) -> dict[str, Any]:
        """``chunks``: the kept ones (all of them when content is captured); ``count``: how many were read."""
        return {}

    def input(self, operation: str, body: dict[str, Any]) -> Any:
        return body

    def output(self, operation: str, result: Any) -> Any:
        return result

    def stream_output(self, operation: str, chunks: list[Any]) -> Any:
        return None


def request_params(body: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """gen_ai.request.* attributes from the request body: ``names`` maps body key -> attribute."""
    out: dict[str, Any] = {}
    for key, attr in names.items():
        value = body.get(key)
        if value is None or attr in out:
            continue
        if isinstance(value, bool | int | float | str):
            out[attr] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            out[attr] = list(value)
    return out


_ADAPTERS: dict[str, Adapter] = {}


def get(provider: str) -> Adapter:
    if provider not in _ADAPTERS:
        module = importlib.import_module(f"tokentrail.sdk.instrument.{provider}")
        _ADAPTERS[provider] = module.ADAPTER
    return _ADAPTERS[provider]
