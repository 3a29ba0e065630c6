"""Generic JSON webhook, signed with HMAC-SHA256.

Headers: ``X-Tokentrail-Timestamp: <unix seconds>`` and ``X-Tokentrail-Signature: sha256=<hex>``,
the HMAC-SHA256 with the receiver's secret of ``"<timestamp>." + body``: the receiver recomputes it
and compares in constant time, and refuses old timestamps (replays). :func:`verify` does exactly that.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from tokentrail.alerts.notify.base import Notification
from tokentrail.alerts.notify.http import json_bytes, post

SIGNATURE_HEADER = "X-Tokentrail-Signature"
TIMESTAMP_HEADER = "X-Tokentrail-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, max_age: float = 300.0,
           now: float | None = None) -> bool:
    try:
        age = (time.time() if now is None else now) - float(timestamp)
    except ValueError:
        return False
    if abs(age) > max_age:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookReceiver:
    kind = "webhook"

    def __init__(self, name: str, url: str, secret: str = "", headers: dict[str, str] | None = None) -> None:
        self.name, self.url, self.secret, self.headers = name, url, secret, dict(headers or {})

    def send(self, n: Notification) -> None:
        body = json_bytes({"version": 1, **n.as_dict()})
        headers = {"Content-Type": "application/json", "User-Agent": "tokentrail-alerts", **self.headers}
        if self.secret:
            ts = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = ts
            headers[SIGNATURE_HEADER] = sign(self.secret, ts, body)
        post(self.url, content=body, headers=headers)
