"""Instrument LLM client libraries: ``instrument_openai()``, ``instrument_anthropic()``.

With no argument the client classes are patched (every client, including ones made
before); with a client instance only that client is. Instrumenting twice is a no-op.
The returned handle undoes it: ``handle.uninstrument()`` or ``with instrument_openai(): ...``.
"""

from __future__ import annotations

import importlib
from typing import Any

from tokentrail.sdk.instrument import _wrapper

PROVIDERS = ("openai", "anthropic")


class Instrumentation:
    def __init__(self, targets: list[Any]) -> None:
        self.targets = targets

    def uninstrument(self) -> None:
        for target in self.targets:
            _wrapper.uninstrument(target)
        self.targets = []

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstrument()


def instrument(provider: str, client: Any = None) -> Instrumentation:
    module = importlib.import_module(f"tokentrail.sdk.instrument.{provider}")
    targets = [client] if client is not None else module.targets()
    return Instrumentation([t for t in targets if _wrapper.instrument(t, provider)])


def instrument_openai(client: Any = None) -> Instrumentation:
    """Record every call of the ``openai`` client (or of one client instance)."""
    return instrument("openai", client)


def instrument_anthropic(client: Any = None) -> Instrumentation:
    """Record every call of the ``anthropic`` client (or of one client instance)."""
    return instrument("anthropic", client)


def uninstrument_all() -> None:
    for provider in PROVIDERS:
        try:
            module = importlib.import_module(f"tokentrail.sdk.instrument.{provider}")
            targets = module.targets()
        except ImportError:
            continue
        for target in targets:
            _wrapper.uninstrument(target)
