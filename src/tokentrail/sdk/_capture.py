"""Content at the source: which calls have their prompt and response captured, and redaction.

The decision is made on the app's thread when a call ends (a few attribute reads and one
random draw); the content itself is serialized, redacted and cut in the export thread,
before anything leaves the process. Precedence: ``tokentrail.context(capture=...)``
(a flagged block), then the per-route mode, then the global mode. Errors are captured
in every mode but ``off``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from tokentrail.privacy import inline_data, redact
from tokentrail.sdk._context import Ctx


class Policy:
    __slots__ = ("mode", "rate", "routes", "max_chars", "redact")

    def __init__(self, mode: str, rate: float, routes: dict[str, str], max_chars: int,
                 redact: Callable[[str], str] | None) -> None:
        self.mode, self.rate, self.routes, self.max_chars, self.redact = mode, rate, dict(routes), max_chars, redact

    def decide(self, failed: bool, ctx: Ctx | None) -> str | None:
        """The capture reason for a finished call, or None (not captured)."""
        if ctx is None and not failed and self.mode == "sampled":  # the common case, kept short
            return "sampled" if self.rate and random.random() < self.rate else None
        mode = self.mode
        flagged = False
        if ctx is not None:
            if ctx.capture:
                mode, flagged = ctx.capture, True
            elif ctx.route and self.routes:
                mode = self.routes.get(ctx.route, mode)
        if mode == "off":
            return None
        if failed:
            return "error"
        if mode == "always":
            return "flagged" if flagged else "always"
        if mode == "sampled" and self.rate and random.random() < self.rate:
            return "sampled"
        return None

    def wants_content(self, ctx: Ctx | None) -> str | None:
        """Whether a call's content is captured whatever its outcome (decided when a stream starts)."""
        if ctx is None and self.mode == "sampled":  # the common case, kept short
            return "sampled" if self.rate and random.random() < self.rate else None
        mode, flagged = self.mode, False
        if ctx is not None:
            if ctx.capture:
                mode, flagged = ctx.capture, True
            elif ctx.route and self.routes:
                mode = self.routes.get(ctx.route, mode)
        if mode == "always":
            return "flagged" if flagged else "always"
        if mode == "sampled" and self.rate and random.random() < self.rate:
            return "sampled"
        return None

    def text(self, value: Any, counts: dict[str, int] | None = None) -> str:
        """Serialize, redact and cut one piece of content (export thread); inline images, audio and files
        become their size first (``privacy/inline_data.py``); ``counts`` gets the redactions per type when
        the default hook runs."""
        text = inline_data.omit(value if isinstance(value, str) else dumps(value))  # images: their size
        if self.redact is redact_pii:  # before cutting: a value cut in two could escape the patterns
            text, found = redact.default().redact(text)
            if counts is not None:
                redact.add_counts(counts, found)
        elif self.redact is not None:
            text = self.redact(text)
        if len(text) > self.max_chars:
            text = text[: self.max_chars] + f"...[cut {len(text) - self.max_chars} chars]"
        return text


def _plain(o: Any) -> Any:
    dump = getattr(o, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json", exclude_unset=True)
        except TypeError:
            return dump()
    if isinstance(o, bytes | bytearray):
        return f"<{len(o)} bytes>"
    if isinstance(o, set | frozenset | tuple):
        return list(o)
    return repr(o)


def dumps(value: Any) -> str:
    return json.dumps(value, default=_plain, ensure_ascii=False, separators=(",", ":"))


def redact_pii(text: str) -> str:
    """The default redaction hook: the rule set the server applies too (``tokentrail.privacy.rules``):
    e-mails, phone numbers, payment cards (Luhn), IBANs, national ids, IP addresses and secrets
    become typed placeholders (``<EMAIL>``, ``<CARD>`` ...)."""
    return redact.default().redact(text)[0]


def set_capture(mode: str | None = None, *, route: str | None = None, rate: float | None = None) -> None:
    """Change the capture policy at run time: the global mode/rate, or one route's mode (None: remove it)."""
    from tokentrail.sdk import _state
    from tokentrail.sdk._config import CAPTURE_MODES

    policy = _state.STATE.policy
    if policy is None:
        return
    if mode is not None and mode not in CAPTURE_MODES:
        raise ValueError(f"capture mode must be one of {', '.join(CAPTURE_MODES)}")
    if route is not None:
        routes = dict(policy.routes)
        if mode is None:
            routes.pop(route, None)
        else:
            routes[route] = mode
        policy.routes = routes
    elif mode is not None:
        policy.mode = mode
    if rate is not None:
        policy.rate = min(1.0, max(0.0, float(rate)))
