"""Generated documentation tables (settings, attribute mapping), kept in README.md between
markers. ``python -m tokentrail.docs`` rewrites them; a test fails when they drift."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tokentrail.config import PARAMS
from tokentrail.ingest.conventions import CONVENTIONS, LIBRARY_NAMES, Expr, Key, mapped_columns


def settings_table() -> str:
    rows = ["| setting | env | CLI flag | default | meaning |", "|---|---|---|---|---|"]
    for p in PARAMS:
        flag = "--" + p.name.replace("_", "-")
        rows.append(f"| {p.name} | `{p.env}` | `{flag}` | `{p.default}` | {p.help} |")
    return "\n".join(rows)


def _cell(key: Key) -> str:
    if isinstance(key, Expr):
        return key.doc
    name, scale = (key, 1.0) if isinstance(key, str) else key
    return f"`{name}`" + (" (s → ms)" if scale == 1000.0 else f" (× {scale:g})" if scale != 1.0 else "")


def mapping_table() -> str:
    """Which key of which library fills which column: one column per library."""
    modules = [c.__name__.rsplit(".", 1)[1] for c in CONVENTIONS]
    rows = ["| column | " + " | ".join(LIBRARY_NAMES.get(m, m) for m in modules) + " |",
            "|---" * (len(modules) + 1) + "|"]
    for col in mapped_columns():
        cells = ["<br>".join(_cell(k) for k in conv.KEYS.get(col, ())) for conv in CONVENTIONS]
        rows.append(f"| {col} | " + " | ".join(cells) + " |")
    kinds = ["<br>".join(f"`{k}`" for k in getattr(conv, "KIND_VALUES", {})) for conv in CONVENTIONS]
    rows.append("| kind (from values) | " + " | ".join(kinds) + " |")
    return "\n".join(rows)


BLOCKS = {"settings": settings_table, "mapping": mapping_table}


def render(readme: str) -> str:
    for name, fn in BLOCKS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        readme = pattern.sub(lambda m, fn=fn: m.group(1) + fn() + "\n" + m.group(2), readme)
    return readme


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(render(path.read_text()))
