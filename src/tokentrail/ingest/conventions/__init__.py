"""Attribute conventions: which attribute key of which library fills which column.

Each module lists, per column, the keys it uses (optionally with a scale to convert
units: seconds -> ms). Candidates are tried in the order of ``CONVENTIONS``; the first
non-empty value wins. ``normalize.py`` turns this table into the engine's SQL, and
``docs/attributes.md`` is generated from it, so the docs cannot drift.
"""

from __future__ import annotations

from tokentrail.ingest.conventions import genai, openinference, openllmetry, tokentrail_keys

Key = str | tuple[str, float]

CONVENTIONS = (tokentrail_keys, genai, openinference, openllmetry)


def candidates(column: str) -> list[tuple[str, float]]:
    """Every (key, scale) filling ``column``, in priority order, without repeats."""
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for conv in CONVENTIONS:
        for key in conv.KEYS.get(column, ()):
            name, scale = (key, 1.0) if isinstance(key, str) else key
            if name not in seen:
                seen.add(name)
                out.append((name, scale))
    return out


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
