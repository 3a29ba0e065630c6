"""Generate the PII corpus: ``python tests/privacy/corpus/make_corpus.py`` writes ``corpus.jsonl``.

Each line is one text an app might send to an LLM (a support message, a log excerpt, a config
paste ...) with the PII values it holds (``{"type", "value"}``, in the real-world format used) and
the decoys it holds (look-alikes that must survive redaction: Luhn-invalid card numbers, order
ids, dates, times, versions, sk-learn, UUIDs, trace ids, prices, timestamps, bad IBANs).
Seeded: the same file every run. Values are made here (check digits computed), never copied.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from pathlib import Path

R = random.Random(20261207)
OUT = Path(__file__).with_name("corpus.jsonl")
FIRST = ["jane", "omar", "li", "sofia", "mateo", "aiko", "noah", "fatima", "lukas", "chloé", "ravi", "eva",
         "jörg", "ana", "kwame", "ingrid", "yusuf", "mia", "pierre", "sven"]
LAST = ["doe", "haddad", "wei", "rossi", "garcia", "tanaka", "smith", "khan", "müller", "martin", "patel",
        "novak", "schmidt", "silva", "mensah", "larsen", "demir", "kowalski", "dubois", "berg"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.co.uk", "example.de", "uni-example.edu",
           "example.io", "shop.example.fr", "example.com.br"]


def _digits(n: int) -> str:
    return "".join(R.choice(string.digits) for _ in range(n))


def _alnum(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    while True:
        s = "".join(R.choice(alphabet) for _ in range(n))
        if any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
            return s


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + _digits(length - len(prefix) - 1)
    for check in string.digits:
        n = body + check
        total = 0
        for i, ch in enumerate(reversed(n)):
            d = int(ch)
            if i % 2:
                d = d * 2 - 9 if d > 4 else d * 2
            total += d
        if total % 10 == 0:
            return n
    raise AssertionError


def luhn_invalid(prefix: str, length: int) -> str:
    good = luhn_complete(prefix, length)
    return good[:-1] + str((int(good[-1]) + R.randint(1, 9)) % 10)


def group(number: str, sizes: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for s in sizes:
        out.append(number[i:i + s])
        i += s
    return sep.join(out)


def email() -> str:
    f, last = R.choice(FIRST), R.choice(LAST)
    local = R.choice([f"{f}.{last}", f"{f}{R.randint(1, 99)}", f"{f[0]}{last}", f"{f}.{last}+{R.choice(['news', 'tt'])}",
                      f"{f.upper()}.{last.upper()}", f"{f}_{last}"])
    return f"{local}@{R.choice(DOMAINS)}"


def phone() -> str:
    kind = R.randrange(14)
    if kind == 0:
        return "+1" + R.choice("23456789") + _digits(9)
    if kind == 1:
        return f"+44 20 {_digits(4)} {_digits(4)}"
    if kind == 2:
        return f"+49 30 {_digits(4)} {_digits(4)}"
    if kind == 3:
        return f"+33 {R.randint(1, 9)} {_digits(2)} {_digits(2)} {_digits(2)} {_digits(2)}"
    if kind == 4:
        return f"+81 3-{_digits(4)}-{_digits(4)}"
    if kind == 5:
        return f"+91 {R.choice('6789')}{_digits(4)} {_digits(5)}"
    if kind == 6:
        return f"+1 ({R.choice('23456789')}{_digits(2)}) {_digits(3)}-{_digits(4)}"
    if kind == 7:
        return f"+1-{R.choice('23456789')}{_digits(2)}-{_digits(3)}-{_digits(4)}"
    if kind == 8:
        return f"0049 {R.randint(30, 89)} {_digits(8)}"
    if kind == 9:
        return f"({R.choice('23456789')}{_digits(2)}) {_digits(3)}-{_digits(4)}"
    if kind == 10:
        return f"{R.choice('23456789')}{_digits(2)}-{_digits(3)}-{_digits(4)}"
    if kind == 11:
        return f"{R.choice('23456789')}{_digits(2)}.{_digits(3)}.{_digits(4)}"
    if kind == 12:
        return f"020 {_digits(4)} {_digits(4)}"
    return f"0{R.randint(6, 7)} {_digits(2)} {_digits(2)} {_digits(2)} {_digits(2)}"


def card() -> str:
    brand = R.randrange(5)
    if brand == 0:
        n = luhn_complete("4", 16)
    elif brand == 1:
        n = luhn_complete(R.choice(["51", "52", "53", "54", "55", "2221", "2720"]), 16)
    elif brand == 2:
        return group(luhn_complete(R.choice(["34", "37"]), 15), (4, 6, 5), R.choice([" ", "-", ""]))
    elif brand == 3:
        n = luhn_complete("6011", 16)
    else:
        n = luhn_complete("35" + str(R.randint(28, 89)), 16)
    return group(n, (4, 4, 4, 4), R.choice([" ", "-", ""]))


IBAN_FORMATS = {"DE": "8n10n", "GB": "4a14n", "FR": "10n11c2n", "ES": "20n", "IT": "1a10n12c", "NL": "4a10n",
                "BE": "12n", "CH": "5n12c", "PL": "24n", "AT": "16n"}


def iban(valid: bool = True) -> str:
    country = R.choice(list(IBAN_FORMATS))
    bban = ""
    spec = IBAN_FORMATS[country]
    num = ""
    for ch in spec:
        if ch.isdigit():
            num += ch
            continue
        k = int(num)
        num = ""
        pool = string.digits if ch == "n" else string.ascii_uppercase if ch == "a" else string.ascii_uppercase + string.digits
        bban += "".join(R.choice(pool) for _ in range(k))
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    if not valid:
        check = (check + R.randint(1, 90)) % 97 + 2
    compact = f"{country}{check:02d}{bban}"
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4)) if R.random() < 0.6 else compact


def ssn() -> str:
    area = R.choice([n for n in range(1, 900) if n != 666])
    body = f"{area:03d}", f"{R.randint(1, 99):02d}", f"{R.randint(1, 9999):04d}"
    return R.choice(["-".join(body), " ".join(body)])


def nino() -> str:
    first = R.choice("ABCEGHJKLMNPRSTWXYZ")
    second = R.choice("ABCEGHJKLMNPRSTWXYZ".replace("O", ""))
    if first + second in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
        first, second = "A", "B"
    d = _digits(6)
    suffix = R.choice("ABCD")
    return R.choice([f"{first}{second} {d[:2]} {d[2:4]} {d[4:]} {suffix}", f"{first}{second}{d}{suffix}"])


def ipv4() -> str:
    kind = R.randrange(3)
    if kind == 0:
        return f"192.168.{R.randint(0, 255)}.{R.randint(1, 254)}"
    if kind == 1:
        return f"10.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}"
    return f"{R.randint(11, 223)}.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}"


def ipv6() -> str:
    kind = R.randrange(4)
    h = lambda: f"{R.randint(1, 0xffff):x}"  # noqa: E731
    if kind == 0:
        return ":".join(["2001", "db8"] + [h() for _ in range(6)])
    if kind == 1:
        return f"2001:db8::{h()}:{R.randint(1, 9)}{h()[:2]}"
    if kind == 2:
        return f"fe80::{h()}:{h()}:{R.randint(1, 9)}%eth0"
    return f"::ffff:192.0.2.{R.randint(1, 254)}"


def _b64url(doc: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def secret() -> tuple[str, str]:
    """(text around, the secret value) for one vendor format."""
    kind = R.randrange(14)
    if kind == 0:
        v = "sk-" + _alnum(48)
        return f"OPENAI_API_KEY={v}", v
    if kind == 1:
        v = "sk-proj-" + _alnum(56, string.ascii_letters + string.digits + "_-")
        return f"my key is {v}", v
    if kind == 2:
        v = "sk-ant-api03-" + _alnum(80, string.ascii_letters + string.digits + "_-")
        return f"anthropic key: {v}", v
    if kind == 3:
        v = "AKIA" + _alnum(16, string.ascii_uppercase + string.digits)
        return f"aws_access_key_id = {v}", v
    if kind == 4:
        v = _alnum(40, string.ascii_letters + string.digits + "/+")
        return f"aws_secret_access_key = {v}", v
    if kind == 5:
        v = "ghp_" + _alnum(36)
        return f"export GITHUB_TOKEN={v}", v
    if kind == 6:
        v = "github_pat_" + _alnum(22) + "_" + _alnum(59)
        return f"token {v}", v
    if kind == 7:
        v = "AIza" + _alnum(35, string.ascii_letters + string.digits + "_-")
        return f"maps key {v}", v
    if kind == 8:
        v = f"xoxb-{_digits(12)}-{_digits(13)}-{_alnum(24)}"
        return f"slack bot token {v}", v
    if kind == 9:
        v = "sk_live_" + _alnum(24)
        return f"stripe {v}", v
    if kind == 10:
        v = _alnum(40, string.ascii_letters + string.digits + "-._~")
        return f"Authorization: Bearer {v}", v
    if kind == 11:
        v = (_b64url({"alg": "HS256", "typ": "JWT"}) + "." + _b64url({"sub": _digits(10), "name": R.choice(FIRST)})
             + "." + _alnum(43, string.ascii_letters + string.digits + "_-"))
        return f"session cookie {v}", v
    if kind == 12:
        body = "\n".join(_alnum(64, string.ascii_letters + string.digits + "+/") for _ in range(3))
        v = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----"
        return f"here is the key:\n{v}\nplease rotate it", body.splitlines()[0]
    v = _alnum(14)
    return f"DATABASE_URL=postgres://app:{v}@db.internal:5432/prod", v


DECOYS = [
    lambda: group(luhn_invalid("4", 16), (4, 4, 4, 4), R.choice([" ", "-"])),
    lambda: luhn_invalid("5" + str(R.randint(1, 5)), 16),
    lambda: f"ORD-{R.randint(2020, 2026)}-{_digits(6)}",
    lambda: f"order #{_digits(8)}",
    lambda: f"{R.randint(2020, 2026)}-{R.randint(1, 12):02d}-{R.randint(1, 28):02d}",
    lambda: f"{R.randint(1, 28):02d}/{R.randint(1, 12):02d}/{R.randint(2020, 2026)}",
    lambda: f"{R.randint(0, 23):02d}:{R.randint(0, 59):02d}:{R.randint(0, 59):02d}",
    lambda: f"{R.randint(2020, 2026)}-{R.randint(1, 12):02d}-{R.randint(1, 28):02d}T{R.randint(0, 23):02d}:"
            f"{R.randint(0, 59):02d}:{R.randint(0, 59):02d}Z",
    lambda: f"v{R.randint(0, 9)}.{R.randint(0, 30)}.{R.randint(0, 99)}",
    lambda: f"version {R.randint(1, 20)}.{R.randint(0, 9)}.{R.randint(0, 99)}.{R.randint(0, 9999)}",
    lambda: "sk-learn",
    lambda: f"scikit-learn {R.randint(0, 1)}.{R.randint(0, 9)}.{R.randint(0, 9)}",
    lambda: str(uuid.UUID(int=R.getrandbits(128))),
    lambda: f"{R.getrandbits(128):032x}",
    lambda: f"${R.randint(1, 9)},{_digits(3)}.{_digits(2)}",
    lambda: f"€{R.randint(1, 999)}.{_digits(2)}",
    lambda: str(R.randint(1_600_000_000, 1_800_000_000)),
    lambda: f"{R.randint(100, 4096)} tokens",
    lambda: iban(valid=False),
    lambda: f"SKU-{_digits(5)}",
    lambda: f"HTTP {R.choice([400, 404, 429, 500, 503])}",
    lambda: f"localhost:{R.randint(1024, 65000)}",
    lambda: "std::vector<int>",
    lambda: f"invoice {_digits(9)}",
]

GENERATORS = {"EMAIL": email, "PHONE": phone, "CARD": card, "IBAN": iban, "SSN": ssn, "NATIONAL_ID": nino,
              "IP": lambda: ipv4() if R.random() < 0.55 else ipv6()}

TEMPLATES = [
    "Hi, this is {name}. Please reach me at {a} or {b}. Re: {d1}, placed on {d2}.",
    "Customer wrote: \"my details changed — new contact {a}; billing {b}\". Ticket ref {d1} ({d2}).",
    "Log excerpt:\n[{d2}] user login ok from {a}\n[{d2}] payment method updated: {b}\nnote: {d1}",
    "Summarize: {name} ({a}) disputes the charge on card {b}; order {d1}, amount {d2}.",
    "{{\"customer\": \"{name}\", \"contact\": \"{a}\", \"account\": \"{b}\", \"ref\": \"{d1}\", \"at\": \"{d2}\"}}",
    "Translate to German: Please call {a} before {d2} and quote {d1}. Backup contact: {b}.",
    "| field | value |\n|---|---|\n| contact | {a} |\n| id | {b} |\n| order | {d1} |\n| build | {d2} |",
    "Fix this config:\n{secret}\nretry_after = {d1}\nlast_deploy = {d2}",
    "Why did request {d1} fail at {d2}? Stack shows {secret} and client {a}.",
    "Debug: {secret} (seen {d2}); unrelated: {d1}; reporter {a}",
]


def entry() -> dict:
    template = R.choice(TEMPLATES)
    pii: list[dict[str, str]] = []
    fields: dict[str, str] = {"name": R.choice(FIRST).title()}
    for slot in ("a", "b"):
        kind = R.choice(list(GENERATORS))
        value = GENERATORS[kind]()
        fields[slot] = value
        if "{" + slot + "}" in template:
            pii.append({"type": kind, "value": value})
    if "{secret}" in template:
        text, value = secret()
        fields["secret"] = text
        pii.append({"type": "SECRET", "value": value})
    decoys = []
    for slot in ("d1", "d2"):
        value = R.choice(DECOYS)()
        fields[slot] = value
        decoys.append(value)
    text = template.format(**fields)
    if template.startswith("{{"):  # a JSON document: the values as JSON encodes them
        text = json.dumps(json.loads(text), ensure_ascii=False)
    return {"text": text, "pii": pii, "decoys": decoys}


def main(n: int = 600) -> None:
    with OUT.open("w") as f:
        for _ in range(n):
            f.write(json.dumps(entry(), ensure_ascii=False) + "\n")
    print(f"wrote {n} texts to {OUT}")


if __name__ == "__main__":
    main()
