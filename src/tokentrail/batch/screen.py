"""Which lines of a batch file the privacy step must see, decided by the engine for all lines at once.

``Scrubber.lines`` (privacy/walk.py) parses every line in Python and redacts the string values of
every key but the structural ones (``_FLAT_SKIP``); on seed-shaped logs that was ~85 us a line, most
of a load. Yet ``Redactor.redact`` changes a value only when one of its cheap hints holds (an ``@``,
a hex colon, a secret word or prefix, a run of digits), and a flat event with none of them in any
redactable value comes out of the walk byte for byte as it went in. So the engine tests those hints
itself, per value, while it parses the line for the fast path, and only the lines it cannot clear
are scrubbed in Python (then loaded like the others).

A line is *clear* (``clear_sql``) when it is ASCII without a backslash (so a JSON string's raw text
is its value), every value of a redactable key is a string, number, boolean or null (objects and
arrays are walked in Python), and no redactable string value of ``min_chars`` or more has a hint
as ``redact._hints`` computes it. One refinement, for ids: letters and digits right after ``_``
(``req_000012345``, ``h_000001a3``) are no digit hint when the value holds no other digit and no
"ssn": every digit rule refuses a match that starts glued to a word character on its left (cards,
phones, SSNs, IPs, IBANs, national ids), none takes in a ``_``, and the one that may start inside
such a run is the SSN after its keyword (``SSN123456789``). Secrets have hints of their own.
With a capture policy in force, a line naming ``"input"`` or ``"output"`` is never clear (the policy
decides per line). A redactor with custom patterns or Presidio searches every value: then no line is
clear and all go through Python, as before.
"""

from __future__ import annotations

from tokentrail.privacy import redact, walk

CLEAR_ALL = "true"  # redaction off and no capture policy: the walk changes nothing
CLEAR_NONE = "false"


def _lit(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _array(items: tuple[str, ...] | frozenset[str]) -> str:
    return "[" + ", ".join(_lit(x) for x in sorted(items)) + "]"


def _value_hint(s: str) -> str:
    """SQL: the string ``s`` (ASCII) has a hint ``redact._hints`` finds (other than "always")."""
    digit = (f"(match({s}, {_lit(redact._DIGIT_HINT.pattern)}) "
             f"AND (match(replaceRegexpAll({s}, '_[0-9A-Za-z]+', '_'), '[0-9]') OR positionCaseInsensitive({s}, 'ssn') > 0))")
    colon = f"(position({s}, ':') > 0 AND match({s}, {_lit(redact._COLON_HINT.pattern)}))"
    secret = (f"(length({s}) >= 10 AND (multiSearchAny({s}, {_array(tuple(redact._SECRET_LITERALS))}) "
              f"OR multiSearchAny(lower({s}), {_array(tuple(redact._SECRET_WORDS))})))")
    return f"(position({s}, '@') > 0 OR {colon} OR {secret} OR {digit})"


def clear_sql(scrub: walk.Scrubber) -> str:
    """SQL over a line of ``flat._lines_select`` (columns ``line`` and ``kv``, the line's top-level
    (key, raw value) pairs): true when ``scrub.lines`` would leave the line as it is."""
    policy = scrub._policy_active()
    r = scrub.redactor
    if r is None and not policy:
        return CLEAR_ALL
    if r is not None and (r.extra is not None or getattr(r, "always", getattr(r, "_always", False))):
        return CLEAR_NONE
    parts = ["isValidUTF8(line)", "lengthUTF8(line) = length(line)", "position(line, '\\\\') = 0"]
    if policy:
        parts.append("position(line, '\"input\"') = 0 AND position(line, '\"output\"') = 0")
    if r is not None:
        s = "substring(x.2, 2, length(x.2) - 2)"
        value = (f"multiIf(startsWith(x.2, '\"'), length(x.2) - 2 < {int(scrub.min_chars)} OR NOT {_value_hint(s)}, "
                 "startsWith(x.2, '[') OR startsWith(x.2, '{'), false, true)")
        parts.append(f"arrayAll(x -> has({_array(walk._FLAT_SKIP)}, x.1) OR {value}, kv)")
    return "(" + " AND ".join(parts) + ")"
