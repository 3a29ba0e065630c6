"""The app's JSON response: what a client sent may come back in an error message, and JSON text may
hold a lone surrogate (``"\\ud800"``) that UTF-8 cannot encode; it is written back as the same escape
instead of failing the answer with a 500."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse as _JSONResponse


class JSONResponse(_JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                          separators=(",", ":")).encode("utf-8", "backslashreplace")
