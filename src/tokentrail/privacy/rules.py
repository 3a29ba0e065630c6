"""The ONE rule set of PII and secrets, shared by the SDK and the server (``redact.py`` applies it).

A rule is a compiled pattern, a check a candidate must pass (Luhn, mod-97, checksum digits, a
plausible length ...) and the type its placeholder names (``<EMAIL>``, ``<CARD>`` ...). Rules run in
order; what one replaced is not seen by the next (a placeholder holds no digit, ``@`` or ``:``).
Each rule names a *hint*: a cheap test that must pass before its pattern runs at all
(``redact.Redactor``), so text without ``@``, digits or key prefixes costs a few substring scans.

Decisions worth knowing (docs/privacy.md lists them with examples):

* Cards: 13-19 digits, spaces or dashes between groups, a known brand prefix (Visa, Mastercard,
  Amex, Discover, JCB, Diners, UnionPay, Maestro) AND the Luhn check. A Luhn-invalid number, or one
  glued to a word (``ORD-4111...``, ``#4111...``) is an id, not a card, and survives.
* IBANs: a known country code, that country's length, and the ISO 7064 mod-97 check.
* IPv4: a dotted quad of octets 0-255 without leading zeros. It survives when it is part of a
  longer dotted run (``1.2.3.4.5``, OIDs) or follows a version word (``v1.2.3.4``, ``version
  1.2.3.4``, ``release``, ``build``, ``firmware``, ``@1.2.3.4``). A bare ``1.2.3.4`` is an address.
* IPv6: parsed by ``ipaddress``; at least two groups and one digit (so C++'s ``a::b`` survives);
  times such as ``12:30:45`` are not addresses.
* Phones: an international prefix (``+``/``00``) and 8-15 digits; or a North-American number with
  an area code in parentheses or separators (``(555) 123-4567``, ``555-123-4567``, ``555.123.4567``);
  or a national number with a trunk ``0`` and separators (``020 7946 0958``, ``06 12 34 56 78``).
  Bare digit runs (unix times, counts, order ids) are never phones.
* Secrets: vendor key formats (OpenAI ``sk-``/``sk-proj-``, Anthropic ``sk-ant-``, AWS ``AKIA``/
  ``ASIA`` and ``aws_secret_access_key=...``, GitHub, Google ``AIza``, Slack, Stripe), bearer and
  basic credentials, JWTs, passwords in URLs, ``password=``/``api_key=`` assignments, PEM private
  keys. ``sk-learn`` and ``scikit-learn`` survive (a key is 20+ random characters).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Check = Callable[[Any], str | None]  # the text to replace (None: not PII), a prefix; a stretched rule gets a str


@dataclass(frozen=True)
class Rule:
    type: str  # EMAIL, PHONE, CARD ... (the placeholder is <TYPE>)
    pattern: re.Pattern[str]
    hint: str  # which cheap test gates it: "at", "digit", "colon", "secret", "always"
    check: Check | None = None  # None: every match is PII
    group: int = 0  # the group replaced (0: the whole match)
    left: re.Pattern[str] | None = None  # characters the match stretches over to its left (an e-mail's local part)
    left_max: int = 64  # at most this many
    left_stop: re.Pattern[str] | None = None  # a character here, just before the stretched match, voids it

    @property
    def placeholder(self) -> str:
        return f"<{self.type}>"


# -- checks ---------------------------------------------------------------------------------------

def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_CARD_BRANDS = (  # (prefix regex, allowed lengths)
    (re.compile(r"4"), (13, 16, 19)),
    (re.compile(r"5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)"), (16,)),
    (re.compile(r"3[47]"), (15,)),
    (re.compile(r"6(?:011|5|4[4-9])"), (16, 19)),
    (re.compile(r"35(?:2[89]|[3-8])"), (16, 17, 18, 19)),
    (re.compile(r"3(?:0[0-5]|[689])"), (14, 16, 19)),
    (re.compile(r"62"), (16, 17, 18, 19)),
    (re.compile(r"5018|5020|5038|5893|6304|6759|676[1-3]"), (12, 13, 14, 15, 16, 17, 18, 19)),
)


def _card(m: re.Match[str]) -> str | None:
    text = m.group(0)
    digits = re.sub(r"\D", "", text)
    if len({c for c in text if not c.isdigit()}) > 1:  # one kind of separator
        return None
    if not luhn(digits):
        return None
    if any(p.match(digits) and len(digits) in lengths for p, lengths in _CARD_BRANDS):
        return text
    return None


# IBAN lengths per country (SWIFT IBAN registry)
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def iban_valid(compact: str) -> bool:
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _iban(m: re.Match[str]) -> str | None:
    """The match narrowed to its country's length (a trailing word may have been taken in)."""
    text = m.group(0)
    want = IBAN_LENGTHS.get(text[:2].upper())
    if want is None:
        return None
    n = 0
    for i, ch in enumerate(text):
        if ch != " ":
            n += 1
            if n == want:
                cut = text[: i + 1]
                if i + 1 < len(text) and text[i + 1] != " ":  # the IBAN would end inside a group
                    return None
                return cut if iban_valid(cut.replace(" ", "").upper()) else None
    return None


def _phone_intl(m: re.Match[str]) -> str | None:
    text = m.group(0)
    while True:
        digits = sum(c.isdigit() for c in text)
        if digits <= 15:
            break
        cut = max(text.rfind(" "), text.rfind("-"), text.rfind("."))
        if cut <= 0:
            return None
        text = text[:cut]
    if text.startswith("00"):
        return text if 10 <= digits <= 15 else None
    return text if 8 <= digits <= 15 else None


def _digits_between(lo: int, hi: int) -> Check:
    def check(m: re.Match[str]) -> str | None:
        return m.group(0) if lo <= sum(c.isdigit() for c in m.group(0)) <= hi else None
    return check


_VERSION_WORDS = re.compile(r"(?:\bv|\bver\.?|version|release|build|firmware|\bfw|\brev\.?|@|\bpython|\bnode|"
                            r"\bjava|\bchrome|\bfirefox|\bos|\bios|\bandroid)\s*[:=]?\s*$", re.I)


def _ipv4(m: re.Match[str]) -> str | None:
    text = m.group(0)
    if any(int(p) > 255 or (len(p) > 1 and p[0] == "0") for p in text.split(".")):
        return None
    before = m.string[max(0, m.start() - 12): m.start()]
    return None if _VERSION_WORDS.search(before) else text


def _ipv6(m: re.Match[str] | str) -> str | None:
    text = m if isinstance(m, str) else m.group(0)
    core, _, zone = text.partition("%")
    core = core.rstrip(".")
    if core.count(":") < 2:
        return None
    groups = [g for g in core.split(":") if g]
    if len(groups) < 2 or not any(c.isdigit() for c in core):
        return None
    if "::" not in core and len(groups) < 8 and "." not in groups[-1]:
        return None
    try:
        ipaddress.IPv6Address(core)
    except ValueError:
        return None
    return core + ("%" + zone if zone and core == text.partition("%")[0] else "")


def _ssn(m: re.Match[str]) -> str | None:
    area, group, serial = m.group("a"), m.group("g"), m.group("s")
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return None
    return m.group(0)


_ASSIGNED = re.compile(r"(?:password|passwd|pwd|passphrase|api[_\-]?key|apikey|secret|access[_\-]?token|"
                       r"auth[_\-]?token|refresh[_\-]?token|private[_\-]?key)[\"']?\s*$", re.I)


def _assigned(m: re.Match[str]) -> str | None:
    """A value after ``:``/``=`` is a secret when a credential word names it (``password=``, ``"api_key":``)."""
    before = m.string[max(0, m.start() - 24): m.start()]
    return m.group(1) if _ASSIGNED.search(before) else None


_NINO_BAD = ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")


def _nino(m: re.Match[str]) -> str | None:
    return None if m.group(0)[:2] in _NINO_BAD else m.group(0)


def _has_digit(m: re.Match[str]) -> str | None:
    return m.group(0) if any(c.isdigit() for c in m.group(0)) else None


# -- national ids (opt-in by name, setting redact_national_ids) -------------------------------------

def _verhoeff(number: str) -> bool:
    d = ((0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
         (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
         (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
         (9, 8, 7, 6, 5, 4, 3, 2, 1, 0))
    p = ((0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
         (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
         (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8))
    c = 0
    for i, ch in enumerate(reversed(number)):
        c = d[c][p[i % 8][int(ch)]]
    return c == 0


def _digits_of(m: re.Match[str]) -> str:
    return re.sub(r"\D", "", m.group(0))


def _ca_sin(m: re.Match[str]) -> str | None:
    return m.group(0) if luhn(_digits_of(m)) and _digits_of(m)[0] not in "08" else None


def _br_cpf(m: re.Match[str]) -> str | None:
    n = [int(c) for c in _digits_of(m)]
    if len(set(n)) == 1:
        return None
    for k in (9, 10):
        s = sum(n[i] * (k + 1 - i) for i in range(k)) * 10 % 11 % 10
        if s != n[k]:
            return None
    return m.group(0)


def _es_dni(m: re.Match[str]) -> str | None:
    text = m.group(0).upper()
    number = text[:-1].replace("X", "0").replace("Y", "1").replace("Z", "2")
    return m.group(0) if "TRWAGMYFPDXBNJZSQVHLCKE"[int(number) % 23] == text[-1] else None


def _in_aadhaar(m: re.Match[str]) -> str | None:
    return m.group(0) if _verhoeff(_digits_of(m)) else None


def _nl_bsn(m: re.Match[str]) -> str | None:
    n = [int(c) for c in m.group(1)]
    return m.group(1) if sum(n[i] * (9 - i) for i in range(8)) - n[8] and \
        (sum(n[i] * (9 - i) for i in range(8)) - n[8]) % 11 == 0 else None


def _fr_nir(m: re.Match[str]) -> str | None:
    digits = _digits_of(m)
    return m.group(0) if 97 - int(digits[:13]) % 97 == int(digits[13:]) else None


NATIONAL_IDS: dict[str, tuple[str, Rule]] = {  # name -> (what it is, rule)
    "us_ssn": ("US Social Security number (123-45-6789, 123 45 6789, or 9 digits after 'SSN')", Rule(
        "SSN", re.compile(r"(?P<a>\d(?<![\w\-]\d)\d{2})(?P<sep>[- ])(?P<g>\d{2})(?P=sep)(?P<s>\d{4})(?![\w\-])"),
        "digit", _ssn)),
    "us_ssn_bare": ("a US SSN without separators, after the word SSN / social security", Rule(
        "SSN", re.compile(r"(?:SSN|[Ss]sn|[Ss]ocial [Ss]ecurity(?: [Nn]umber| [Nn]o\.?| #)?)\W{0,4}(\d{9})\b"), "digit",
        None, 1)),
    "uk_nino": ("UK National Insurance number (AB 12 34 56 C)", Rule(
        "NATIONAL_ID", re.compile(r"[A-CEGHJ-PR-TW-Z](?<!\w[A-Z])[A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"),
        "digit", _nino)),
    "ca_sin": ("Canadian Social Insurance number (Luhn-checked, 123 456 782)", Rule(
        "NATIONAL_ID", re.compile(r"(?<![\w\-])\d{3}([- ])\d{3}\1\d{3}(?![\w\-])"), "digit", _ca_sin)),
    "br_cpf": ("Brazilian CPF (123.456.789-09, check digits verified)", Rule(
        "NATIONAL_ID", re.compile(r"(?<![\w.])\d{3}\.\d{3}\.\d{3}-\d{2}(?![\w])"), "digit", _br_cpf)),
    "es_dni": ("Spanish DNI / NIE (12345678Z, X1234567L; letter verified)", Rule(
        "NATIONAL_ID", re.compile(r"\b[XYZ]?\d{7,8}[A-Z]\b"), "digit", _es_dni)),
    "in_aadhaar": ("Indian Aadhaar (1234 5678 9012, Verhoeff-checked)", Rule(
        "NATIONAL_ID", re.compile(r"(?<![\w\-])[2-9]\d{3}([ -])\d{4}\1\d{4}(?![\w\-])"), "digit", _in_aadhaar)),
    "nl_bsn": ("Dutch BSN (9 digits after 'BSN', 11-check)", Rule(
        "NATIONAL_ID", re.compile(r"(?i)\bbsn\W{0,4}(\d{9})\b"), "digit", _nl_bsn, 1)),
    "fr_nir": ("French social security number (NIR, 15 digits, key verified)", Rule(
        "NATIONAL_ID", re.compile(r"(?<![\w])[12] ?\d{2} ?\d{2} ?\d{2} ?\d{3} ?\d{3} ?\d{2}(?![\w])"), "digit",
        _fr_nir)),
}
DEFAULT_NATIONAL_IDS = ("us_ssn", "us_ssn_bare", "uk_nino")


# -- the rules --------------------------------------------------------------------------------------

_B64URL = r"[A-Za-z0-9_\-]"
# Every pattern starts with a literal or a small character class (the regex engine then skips to
# candidates quickly); a "not glued to a word" check comes right after the first character.
SECRET_RULES: tuple[Rule, ...] = (
    Rule("SECRET", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
                              r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)"), "secret"),
    Rule("SECRET", re.compile(rf"eyJ(?<!\weyJ){_B64URL}{{8,}}\.eyJ{_B64URL}{{8,}}\.{_B64URL}*"), "secret"),
    Rule("SECRET", re.compile(r"sk-(?<!\wsk-)(?:ant-(?:api|admin|sid)?\d{0,3}-?[A-Za-z0-9_\-]{20,}|"
                              r"(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{20,}|[A-Za-z0-9]{32,}(?![A-Za-z0-9]))"),
         "secret", _has_digit),
    Rule("SECRET", re.compile(r"(?:[srp]k_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{20,})(?![A-Za-z0-9])"),
         "secret"),
    Rule("SECRET", re.compile(r"A(?<!\wA)(?:KIA|SIA)[A-Z0-9]{16}(?![A-Z0-9])"), "secret"),
    Rule("SECRET", re.compile(r"(?:secret|SECRET|Secret)_?(?:access|ACCESS|Access)?_?(?:key|KEY|Key)"
                              r"[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"), "secret", None, 1),
    Rule("SECRET", re.compile(r"g(?:h[pousr]_[A-Za-z0-9]{30,}|ithub_pat_[A-Za-z0-9_]{22,})(?![A-Za-z0-9_])"), "secret"),
    Rule("SECRET", re.compile(r"AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])"), "secret"),
    Rule("SECRET", re.compile(r"xox[abposre]-[A-Za-z0-9\-]{10,}"), "secret"),
    Rule("SECRET", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+"), "secret"),
    Rule("SECRET", re.compile(r"(?:[Bb]earer|BEARER|[Tt]oken|TOKEN)\s+([A-Za-z0-9._\-~+/]{16,}=*)"), "secret",
         _has_digit, 1),
    Rule("SECRET", re.compile(r"(?:[Bb]asic|BASIC)\s+([A-Za-z0-9+/]{12,}={0,2})"), "secret", None, 1),
    Rule("SECRET", re.compile(r"[:=][ \t]*[\"']?([^\s\"',;&<>]{6,})"), "secret", _assigned, 1),
    Rule("SECRET", re.compile(r"://[^/\s:@<>\"']{1,64}:([^/\s@<>\"']{1,128})@"), "at", None, 1),
)

# the local part is found by stretching left from the @ (``Rule.left``): a pattern starting at @ is cheap
EMAIL_RULE = Rule("EMAIL", re.compile(r"@[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}"), "at", left=re.compile(r"[\w.%+\-]"))

CARD_RULE = Rule("CARD", re.compile(r"\d(?<![\w\-#/.]\d)(?:[ \-]?\d){11,18}(?![\w\-]|\.\d)"), "digit", _card)

IBAN_RULE = Rule("IBAN", re.compile(r"[A-Z]{2}\d{2}(?<!\w[A-Z]{2}\d{2})(?: ?[A-Z0-9]{1,4}){3,8}\b"), "digit", _iban)

_NOT_AFTER = r"(?<![\w.\-]{c})(?<!\d[ \-]{c})"  # not inside a word, a dotted run or a group of digits
PHONE_RULES: tuple[Rule, ...] = (
    Rule("PHONE", re.compile(r"(?:\+(?<![\w+]\+)|0(?<![\w+]0)0)[1-9]\d{0,3}(?:[ .\-]?\(\d{1,4}\)|[ .\-]?\d{1,5}){1,6}"
                             r"(?![\w])"), "digit", _phone_intl),
    Rule("PHONE", re.compile(r"\(" + _NOT_AFTER.format(c=r"\(") + r"\d{3}\) ?\d{3}[ .\-]\d{4}(?![\w\-]|\.\d)"), "digit"),
    Rule("PHONE", re.compile(r"\d" + _NOT_AFTER.format(c=r"\d") + r"\d{2}([.\-])\d{3}\1\d{4}(?![\w\-]|\.\d)"), "digit"),
    Rule("PHONE", re.compile(r"0" + _NOT_AFTER.format(c="0") + r"\d{1,4}(?:[ \-]\d{2,4}){1,3}(?![\w\-]|\.\d)"), "digit",
         _digits_between(9, 12)),
    Rule("PHONE", re.compile(r"0" + _NOT_AFTER.format(c="0") + r"[1-9]([ .])\d{2}(?:\1\d{2}){3}(?![\w\-]|\.\d)"), "digit"),
)

IPV4_RULE = Rule("IP", re.compile(r"\d(?<![\w.]\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\w]|\.\d)"), "digit", _ipv4)
# found at its first colon, stretched left over up to 4 hex digits (``Rule.left``), checked whole
IPV6_RULE = Rule("IP", re.compile(r":[0-9A-Fa-f:.]{2,44}(?:%[A-Za-z0-9]+)?(?![\w:])"), "colon", _ipv6,
                 left=re.compile(r"[0-9A-Fa-f]"), left_max=4, left_stop=re.compile(r"[\w:.]"))


def build(national_ids: tuple[str, ...] = DEFAULT_NATIONAL_IDS,
          custom: tuple[tuple[str, str], ...] = ()) -> tuple[Rule, ...]:
    """The rules in the order they run: secrets, e-mails, custom patterns, IBANs, cards, national ids,
    phones, IPs. Unknown national id names are a ValueError (a typo must not silently redact less)."""
    unknown = [n for n in national_ids if n not in NATIONAL_IDS]
    if unknown:
        raise ValueError(f"unknown national id(s) {', '.join(unknown)}: known are {', '.join(NATIONAL_IDS)}")
    customs = tuple(Rule(name.upper(), re.compile(regex), "always") for name, regex in custom)
    ids = tuple(NATIONAL_IDS[n][1] for n in national_ids)
    return (*SECRET_RULES, EMAIL_RULE, *customs, IBAN_RULE, CARD_RULE, *ids, *PHONE_RULES, IPV6_RULE, IPV4_RULE)


def parse_custom(spec: str) -> tuple[tuple[str, str], ...]:
    """``redact_patterns``: ``NAME=REGEX`` entries, one a line (or a JSON object {NAME: REGEX}), or
    ``@FILE`` holding them. A bad regex or name is a ValueError naming it."""
    import json
    from pathlib import Path

    spec = spec.strip()
    if not spec:
        return ()
    if spec.startswith("@"):
        spec = Path(spec[1:]).expanduser().read_text()
    pairs: list[tuple[str, str]]
    if spec.lstrip().startswith("{"):
        pairs = [(str(k), str(v)) for k, v in json.loads(spec).items()]
    else:
        pairs = []
        for line in spec.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, regex = line.partition("=")
            if not sep:
                raise ValueError(f"redact_patterns: {line!r} is not NAME=REGEX")
            pairs.append((name.strip(), regex.strip()))
    for name, regex in pairs:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", name):
            raise ValueError(f"redact_patterns: {name!r} is not a name (letters, digits, _)")
        try:
            re.compile(regex)
        except re.error as e:
            raise ValueError(f"redact_patterns: {name}: bad regular expression: {e}") from e
    return tuple(pairs)
