"""``Expr``: a convention value that is not a plain attribute key (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Expr:
    sql: str
    doc: str  # what the README table says, e.g. "event `First Token Stream Event` - span start"
    override: bool = False  # tried before every plain key (a library whose key means something else)
