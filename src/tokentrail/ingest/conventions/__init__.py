"""Attribute conventions: which attribute key of which library fills which column.

Each module lists, per column, the keys its library sends (optionally with a scale to
convert units: seconds -> ms). Candidates are tried in the order of ``CONVENTIONS``; the
first non-empty value wins (span attributes, then resource attributes). A few values are
not a plain key (a timestamp to subtract, a JSON field, a span event): those are ``Expr``
entries, small SQL expressions tried after every key (or, with ``override``, before them).
``normalize.py`` turns this table into the engine's SQL, and the README's mapping table is
generated from it (``python -m tokentrail.docs``), so the docs cannot drift.

An ``Expr`` may use: ``a`` (span attributes, Map(String, String)), ``r`` (resource
attributes), ``ev`` (attributes of the span's events), ``sp`` (the OTLP span: ``sp.events``,
``sp.status``, ``sp.start_time_unix_nano`` ...), ``scope`` (instrumentation scope name) and
earlier columns by name (``request_model``, ``response_model``, ``kind``). It returns a
Nullable(String); NULL or '' means "no value here".
"""

from __future__ import annotations

from tokentrail.ingest.conventions import (
    genai,
    langfuse,
    openinference,
    openlit,
    openllmetry,
    provider_sdks,
    tokentrail_keys,
)
from tokentrail.ingest.conventions._expr import Expr

Key = str | tuple[str, float] | Expr

CONVENTIONS = (tokentrail_keys, genai, openinference, openllmetry, openlit, langfuse, provider_sdks)
LIBRARY_NAMES = {
    "tokentrail_keys": "tokentrail SDK / gateway",
    "genai": "OTel GenAI semconv (opentelemetry-instrumentation-openai-v2)",
    "openinference": "OpenInference (Arize)",
    "openllmetry": "OpenLLMetry (traceloop-sdk)",
    "openlit": "OpenLIT",
    "langfuse": "Langfuse SDK v3+",
    "provider_sdks": "provider SDKs (anthropic's own spans, client errors)",
}


def _entries(column: str) -> list[Key]:
    out: list[Key] = []
    for conv in CONVENTIONS:
        out += [k for k in conv.KEYS.get(column, ()) if k not in out]
    return out


def candidates(column: str) -> list[tuple[str, float]]:
    """Every plain (key, scale) filling ``column``, in priority order, without repeats."""
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for key in _entries(column):
        if isinstance(key, Expr):
            continue
        name, scale = (key, 1.0) if isinstance(key, str) else key
        if name not in seen:
            seen.add(name)
            out.append((name, scale))
    return out


def expressions(column: str, override: bool = False) -> list[Expr]:
    """The ``Expr`` entries of ``column`` (the overriding ones, or the fallbacks), in order."""
    return [k for k in _entries(column) if isinstance(k, Expr) and k.override == override]


def mapped_columns() -> list[str]:
    cols: list[str] = []
    for conv in CONVENTIONS:
        cols += [c for c in conv.KEYS if c not in cols]
    return cols


def mapped_keys() -> list[str]:
    return sorted({k for c in mapped_columns() for k, _ in candidates(c)})


def kind_values() -> dict[str, dict[str, str]]:
    """For each kind-bearing key, how its values map to tokentrail span kinds."""
    out: dict[str, dict[str, str]] = {}
    for conv in CONVENTIONS:
        for key, mapping in getattr(conv, "KIND_VALUES", {}).items():
            out.setdefault(key, {}).update(mapping)
    return out


def content_key_patterns() -> list[str]:
    """Regular expressions of keys that repeat prompt/completion text (or embedding vectors)
    already stored as ``input``/``output``: not copied into the ``attributes`` map, where
    content would escape the contents table."""
    out: list[str] = []
    for conv in CONVENTIONS:
        out += [p for p in getattr(conv, "CONTENT_KEYS", ()) if p not in out]
    return out
