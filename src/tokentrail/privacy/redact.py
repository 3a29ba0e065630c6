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

import array
import itertools
import os
import re
import threading
from collections.abc import Callable
from typing import Any

from tokentrail.privacy.rules import DEFAULT_NATIONAL_IDS, Rule, build, parse_custom

Counts = dict[str, int]
REDACTED_KEY = "tokentrail.redacted"  # span attribute: "EMAIL:2,CARD:1"

_DIGIT_HINT = re.compile(r"[0-9](?:[ \-.()/]?[0-9]){5,}|[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]")
_COLON_HINT = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f:]|::")
_SECRET_LITERALS = ("-----", "eyJ", "k-", "k_", "whsec_", "AKIA", "ASIA", "AIza", "xox", "slack", "gh", "github_pat_")
_SECRET_WORDS = ("bearer", "token", "basic", "pass", "pwd", "key", "secret", "://")
# The pre-check over serialized spans (``Redactor.screen``), run by the engine of pyarrow's regex
# functions (RE2, bytes as Latin-1) over all of a request's spans at once. Strings are raw UTF-8 in
# protobuf, so what a rule matches in a value is in the span's bytes too; but so are length bytes,
# random ids and attribute NAMES (``gen_ai.usage.input_tokens``). So each alternative is what the
# rules need, not the text hints: an e-mail's shape, a key's prefix, a credential word before
# ``:``/``=`` or whitespace. Non-ASCII whitespace and letters are any byte >= 0x80; the four letters
# IGNORECASE folds into ASCII ones (U+0130, U+0131, U+017F, U+212A) send a span to the full walk.
_WS = r"[\s\x0b\x1c-\x1f\x80-\xff]"
SCREEN_PATTERN = (
    r"@[\w\-\x80-\xff]+(?:\.[\w\-\x80-\xff]+)*\.(?:[A-Za-z]|[\x80-\xff]){2}|://"
    r"|[0-9A-Fa-f]:[0-9A-Fa-f:]|::|[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]"
    r"|-----BEGIN|eyJ|sk-|k_live_|k_test_|whsec_|AKIA|ASIA|AIza|xox|gh[pousr]_|github_pat_|hooks\.slack\.com"
    r"|(?i:secret|passw|pwd|passphrase|api[_\-]?key|apikey|private)"
    rf"|(?i:bearer|token|basic){_WS}|(?i:token|key)[\"']?{_WS}*[:=]"
    r"|\xc4[\xb0\xb1]|\xc5\xbf|\xe2\x84\xaa")
DIGITS_PATTERN = r"[0-9](?:[ \-.()/]?[0-9]){5,}"
_DIGITS = re.compile(DIGITS_PATTERN.encode())
# A model's version and date suffix (gpt-4o-2024-08-06, claude-sonnet-4-20250514, gpt-4.1-2025-04-14):
# a digit run of this shape right after "-" or "@" matches no digit rule. Rules that take "-"-grouped
# digits refuse a start after "-" or a digit (cards, SSNs, phones, national ids: see rules.py), and
# the rest need more digits (cards 12, Aadhaar 12, NIR 15), another grouping (SSN 3-2-4, SIN 3-3-3,
# phones 3-3-4), a word before (SSN, BSN), letters before (IBAN) or a letter after: the Spanish DNI
# (``12345678Z``), so with that rule on a date before a letter is no suffix. In a serialized span the
# byte after a value may be a field tag that reads as one more digit (the span kind's tag is "0",
# followed by the kind, 0-5: never text).
_MODEL_DATE = re.compile(rb"(?:[0-9]{1,2}[ \-.()/]){0,2}(?:20[0-9]{6}|20[0-9]{2}-[0-9]{2}-[0-9]{2})")


def _digits_may_match(data: bytes, letter_after: bool = True) -> bool:
    """Whether a digit rule could match in ``data``: a digit run that is not a model's date suffix."""
    for m in _DIGITS.finditer(data):
        start, end = m.span()
        run, after = m.group(), data[end:end + 1]
        exempt = data[start - 1:start] in (b"-", b"@") and not (letter_after and after.isalpha()) and (
            _MODEL_DATE.fullmatch(run) is not None or
            (after < b"\x06" and _MODEL_DATE.fullmatch(run, 0, len(run) - 1) is not None))
        if not exempt:
            return True
    return False


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
        self._letter_after = any(r.pattern.pattern.startswith(r"\b[XYZ]?\d") for r in rules)  # es_dni
        self.always = any(r.hint == "always" for r in rules)  # a custom pattern: every value is searched
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
        if len(hints) > 1 or self.always:
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

    def screen(self, blobs: list[bytes], data: Any = None) -> list[bool]:
        """The pre-check over serialized messages (a request's spans), all at once: False at ``i`` means
        ``redact`` would change none of the strings in ``blobs[i]``. ``data``: ``binary_array(blobs)``."""
        if self.always or self.extra is not None:
            return [True] * len(blobs)
        data = binary_array(blobs) if data is None else data
        hit = matches(data, SCREEN_PATTERN)
        digits = matches(data, DIGITS_PATTERN)
        letter = self._letter_after
        return [h or (d and _digits_may_match(b, letter)) for h, d, b in zip(hit, digits, blobs, strict=True)]

    def may_hold_pii(self, text: str) -> bool:
        """The cheap pre-check alone: False means ``redact`` would return ``text`` unchanged."""
        return self.always or self.extra is not None or len(_hints(text)) > 1


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


def binary_array(blobs: list[bytes]) -> Any:
    """``blobs`` as one pyarrow array (built from one buffer: ``pa.array`` takes ~10 us per item)."""
    import pyarrow as pa

    offsets = array.array("q", [0])
    offsets.extend(itertools.accumulate(map(len, blobs)))
    return pa.Array.from_buffers(pa.large_binary(), len(blobs),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(blobs))])


def matches(data: Any, pattern: str) -> list[bool]:
    """Whether RE2 ``pattern`` (bytes read as Latin-1: ``\\xNN`` names a byte) is found in each item."""
    import pyarrow.compute as pc

    return pc.match_substring_regex(data, pattern=pattern).to_pylist()


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
