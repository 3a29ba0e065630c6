"""Applying the rule set (``rules.py``) to text: the redacted text and how many values of each type.

``Redactor.redact(text)`` first runs a few cheap tests (is there an ``@``, a run of digits, a ``:``
between hex digits, a key prefix?) and then only the rules those tests allow, so text with nothing
that could be PII costs a handful of substring scans. One redactor serves the SDK (its default
``redact`` hook, ``tokentrail.redact_pii``) and the server (every ingest path, ``privacy/walk.py``).

The default redactor is built from the settings ``redact_patterns`` and ``redact_national_ids``
(environment ``TOKENTRAIL_REDACT_PATTERNS`` / ``TOKENTRAIL_REDACT_NATIONAL_IDS`` in the SDK);
the server calls ``configure`` at start.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable

from tokentrail.privacy.rules import DEFAULT_NATIONAL_IDS, Rule, build, parse_custom

Counts = dict[str, int]
REDACTED_KEY = "tokentrail.redacted"  # span attribute: "EMAIL:2,CARD:1"

_DIGIT_HINT = re.compile(r"[0-9](?:[ \-.()/]?[0-9]){5,}|[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]")
_COLON_HINT = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f:]|::")
_SECRET_LITERALS = ("-----", "eyJ", "k-", "k_", "whsec_", "AKIA", "ASIA", "AIza", "xox", "slack", "gh")
_SECRET_WORDS = ("bearer", "token", "basic", "pass", "pwd", "key", "secret", "://")
MEMO_CHARS = 64  # short values (ids, routes, names) repeat: their result is remembered
MEMO_SIZE = 50_000


def _hints(text: str) -> set[str]:
    hints = {"always"}
    if "@" in text:
        hints.add("at")
    if _DIGIT_HINT.search(text):
        hints.add("digit")
    if ":" in text and _COLON_HINT.search(text):
        hints.add("colon")
    if len(text) >= 10:  # the shortest secret the rules find is pwd=abcdef
        if any(h in text for h in _SECRET_LITERALS):
            hints.add("secret")
        else:
            low = text.lower()
            if any(h in low for h in _SECRET_WORDS):
                hints.add("secret")
    return hints


class Redactor:
    """The rule set, compiled once; thread-safe (patterns are immutable, counts are per call)."""

    def __init__(self, rules: tuple[Rule, ...], extra: Callable[[str], tuple[str, Counts]] | None = None) -> None:
        self.rules = rules
        self.extra = extra  # e.g. the Presidio backend (names, addresses), run after the rules
        self._always = any(r.hint == "always" for r in rules)
        self._memo: dict[str, tuple[str, Counts]] = {}  # results of short texts (callers never change them)

    def redact(self, text: str) -> tuple[str, Counts]:
        """``text`` with every PII value replaced by its placeholder, and the count per type."""
        counts: Counts = {}
        if not text:
            return text, counts
        short = len(text) <= MEMO_CHARS
        if short:
            hit = self._memo.get(text)
            if hit is not None:
                return hit
        original = text
        hints = _hints(text)
        if len(hints) > 1 or self._always:
            for rule in self.rules:
                if rule.hint in hints:
                    text = rule.pattern.sub(_replacer(rule, counts), text) if rule.left is None else \
                        _stretched(rule, text, counts)
        if self.extra is not None:
            text, more = self.extra(text)
            add_counts(counts, more)
        if short:
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[original] = (text, counts)
        return text, counts

    def __call__(self, text: str) -> str:
        """The SDK's hook signature: ``f(text) -> text``."""
        return self.redact(text)[0]

    def may_hold_pii(self, text: str) -> bool:
        """The cheap pre-check alone: False means ``redact`` would return ``text`` unchanged."""
        return self._always or self.extra is not None or len(_hints(text)) > 1


def _replacer(rule: Rule, counts: Counts) -> Callable[[re.Match[str]], str]:
    placeholder = rule.placeholder

    def replace(m: re.Match[str]) -> str:
        whole = m.group(0)
        target = m.group(rule.group) if rule.group else whole
        if target is None:
            return whole
        hit = rule.check(m) if rule.check is not None else target
        if not hit:
            return whole
        lo = m.start(rule.group) - m.start() if rule.group else 0
        counts[rule.type] = counts.get(rule.type, 0) + 1
        return whole[:lo] + placeholder + whole[lo + len(hit):]
    return replace


def _stretched(rule: Rule, text: str, counts: Counts) -> str:
    """``rule`` applied where its match stretches left over ``rule.left`` characters (at most
    ``left_max``, never into the previous match): an e-mail found at its @ takes its local part from
    before it; an IPv6 address found at its first colon takes its first group. The check sees the
    whole candidate (a str) and returns the prefix to replace."""
    assert rule.left is not None
    out: list[str] = []
    last = 0
    left, stop = rule.left, rule.left_stop
    for m in rule.pattern.finditer(text):
        if m.start() < last:
            continue
        start = m.start()
        while start > last and m.start() - start < rule.left_max and left.match(text, start - 1):
            start -= 1
        if rule.type == "EMAIL" and start == m.start():
            continue
        if stop is not None and start > 0 and stop.match(text, start - 1):
            continue
        candidate = text[start:m.end()]
        hit = rule.check(candidate) if rule.check is not None else candidate
        if not hit:
            continue
        out.append(text[last:start])
        out.append(rule.placeholder)
        last = start + len(hit)
        counts[rule.type] = counts.get(rule.type, 0) + 1
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def add_counts(into: Counts, more: Counts) -> Counts:
    for k, v in more.items():
        into[k] = into.get(k, 0) + v
    return into


def format_counts(counts: Counts) -> str:
    """``{"EMAIL": 2, "CARD": 1}`` -> ``"CARD:1,EMAIL:2"`` (the ``tokentrail.redacted`` attribute)."""
    return ",".join(f"{k}:{v}" for k, v in sorted(counts.items()) if v)


def parse_counts(text: str) -> Counts:
    out: Counts = {}
    for part in text.split(","):
        name, _, n = part.partition(":")
        if name and n.isdigit():
            out[name] = out.get(name, 0) + int(n)
    return out


# -- the default redactor ---------------------------------------------------------------------------

_lock = threading.Lock()
_default: Redactor | None = None


def make(patterns: str = "", national_ids: str | None = None, presidio: bool = False) -> Redactor:
    """A redactor from the settings' text forms (``redact_patterns``, ``redact_national_ids``)."""
    ids = DEFAULT_NATIONAL_IDS if national_ids is None else tuple(
        x.strip().lower() for x in national_ids.split(",") if x.strip() and x.strip().lower() != "none")
    extra = None
    if presidio:
        from tokentrail.privacy.presidio import presidio_redact

        extra = presidio_redact
    return Redactor(build(ids, parse_custom(patterns)), extra)


def configure(patterns: str = "", national_ids: str | None = None, presidio: bool = False) -> Redactor:
    """Set the process's default redactor (the server calls it with its settings at start)."""
    global _default
    redactor = make(patterns, national_ids, presidio)
    with _lock:
        _default = redactor
    return redactor


def default() -> Redactor:
    """The process's redactor: as configured, else from the environment (the SDK's case)."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = make(os.environ.get("TOKENTRAIL_REDACT_PATTERNS", ""),
                                os.environ.get("TOKENTRAIL_REDACT_NATIONAL_IDS") or None)
    return _default


def redact(text: str) -> tuple[str, Counts]:
    """``text`` redacted by the default rule set, and the count per type."""
    return default().redact(text)


def redact_text(text: str) -> str:
    return default().redact(text)[0]
