"""Shared by the long reliability benches: import path, a scratch directory, the JSON line."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def scratch(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"tt-rel-{name}-"))


def emit(figures: dict[str, Any]) -> None:
    print(json.dumps(figures, separators=(",", ":")), flush=True)
