"""One POST for every HTTP receiver: timeouts, and which failures are worth a retry."""

from __future__ import annotations

from typing import Any

import httpx

from tokentrail.alerts.notify.base import ReceiverError

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def post(url: str, *, content: bytes, headers: dict[str, str], accept: tuple[int, ...] = (200, 201, 202, 204)
         ) -> httpx.Response:
    try:
        r = httpx.post(url, content=content, headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as e:
        raise ReceiverError(f"{type(e).__name__}: {e}"[:300]) from e
    if r.status_code in accept:
        return r
    # 408 / 429 / 5xx: the service is busy or down, try again; any other 4xx: our payload or config is wrong
    retry = r.status_code in (408, 425, 429) or r.status_code >= 500
    raise ReceiverError(f"HTTP {r.status_code}: {r.text[:200]}", retry=retry)


def json_bytes(payload: Any) -> bytes:
    import orjson

    return orjson.dumps(payload)
