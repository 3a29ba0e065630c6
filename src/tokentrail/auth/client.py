"""The client side: the key a command or script sends to the server, from ``TOKENTRAIL_API_KEY``."""

from __future__ import annotations

import os

ENV = "TOKENTRAIL_API_KEY"


def auth_headers() -> dict[str, str]:
    """``Authorization: Bearer $TOKENTRAIL_API_KEY`` when that is set (none is needed while the server is open)."""
    key = os.environ.get(ENV, "").strip()
    return {"Authorization": f"Bearer {key}"} if key else {}
