"""Generated documentation tables (settings, attribute mapping), kept in README.md between
markers. ``python -m tokentrail.docs`` rewrites them; a test fails when they drift."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tokentrail.config import PARAMS
from tokentrail.ingest.conventions import CONVENTIONS, kind_values


def settings_table() -> str:
    rows = ["| setting | env | CLI flag | default | meaning |", "|---|---|---|---|---|"]
    for p in PARAMS:
        flag = "--" + p.name.replace("_", "-")
        rows.append(f"| {p.name} | `{p.env}` | `{flag}` | `{p.default}` | {p.help} |")
    return "\n".join(rows)


def mapping_table() -> str:
    names = [c.__name__.rsplit(".", 1)[1].replace("tokentrail_keys", "tokentrail") for c in CONVENTIONS]
    columns: list[str] = []
    for conv in CONVENTIONS:
        columns += [c for c in conv.KEYS if c not in columns]
    rows = ["| column | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for col in columns:
        cells = []
        for conv in CONVENTIONS:
            keys = conv.KEYS.get(col, ())
            cells.append("<br>".join(f"`{k if isinstance(k, str) else k[0]}`" for k in keys) or "")
        rows.append(f"| {col} | " + " | ".join(cells) + " |")
    kinds = ", ".join(f"`{k}`" for k in kind_values())
    rows.append(f"| kind (from values) | {kinds} |" + " |" * (len(names) - 1))
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
