"""The engine's screen (batch/screen.py) never clears a line the privacy step would change.

Lines are built around values that hold PII (the privacy corpus, every PII value in it), ids with
digit runs, and thousands of random strings over the characters the rules look at; the real engine
says which lines are clear, and for each of those the real walk (``Scrubber._line``) must return the
line unchanged."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa

from tests.batch.conftest import Local
from tests.batch.helpers import SEED_EVENT
from tokentrail.batch import flat, screen
from tokentrail.batch.loader import PY_LINES, lines_table
from tokentrail.privacy import redact
from tokentrail.privacy.policy import Policy, Rule
from tokentrail.privacy.walk import Scrubber

CORPUS = [json.loads(x) for x in (Path(__file__).parents[1] / "privacy" / "corpus" / "corpus.jsonl").read_text()
          .splitlines()]
ALPHABET = "0123456789_-. ()+:/@#abcdefxyzABCDEFXYZSsnNkKoO=\"'"
IDS = ["req_000012345", "req_0012345", "h_0000abcd", "h_00123a45678", "order_4111111111111111",
       "ORD-4111111111111111", "_4111111111111111", "x_555-123-4567", "id_123 456 789", "ssn_123456789",
       "SSN123456789", "GB82WEST12345698765432", "a_1.2.3.4", "a_1.2.3.4.5", "req_123456 +44 20 7946 0958",
       "req_1234567 +1(2)(3)(4)(5)(6)(7)(8)", "v_2026-11-24T01:02:03Z", "fe80::1", "u_12:34:56",
       "x_SSN123456789", "x_ssn 123456789", "x_Ssn123-45-6789", "h_000001a3", "h_0a1234567b", "k_DE89370400440532013000"]


def _values() -> list[str]:
    rnd = random.Random(23)
    values = [e["text"] for e in CORPUS] + [p["value"] for e in CORPUS for p in e["pii"]] + IDS
    values += ["".join(rnd.choice(ALPHABET) for _ in range(rnd.randrange(6, 40))) for _ in range(4000)]
    values += ["_".join(str(rnd.randrange(10**rnd.randrange(1, 12))) for _ in range(rnd.randrange(1, 4)))
               for _ in range(1000)]
    values += [rnd.choice(["req_", "h_", "x_SSN", "id_"]) + "".join(rnd.choice("0123456789abcdefSN-")
                                                                   for _ in range(rnd.randrange(6, 20)))
               for _ in range(2000)]
    return values


def _lines(values: list[str]) -> list[bytes]:
    keys = ("route", "user_id", "request_id", "error_message", "note")
    return [json.dumps(dict(SEED_EVENT, **{keys[i % len(keys)]: v}), ensure_ascii=i % 7 != 0).encode()
            for i, v in enumerate(values)]


def _clear(local: Local, scrub: Scrubber, lines: list[bytes]) -> list[bool]:
    tt_batch_lines = lines_table(b"\n".join(lines), 0)  # noqa: F841 (read by the engine: PY_LINES)
    sql = f"SELECT line_no, {screen.clear_sql(scrub)} AS clear FROM ({flat._lines_select()}) ORDER BY line_no"
    rows = local.store.query(sql.replace("{lines}", PY_LINES))
    assert len(rows) == len(lines)
    return [bool(r["clear"]) for r in rows]


def test_a_cleared_line_is_one_the_walk_leaves_unchanged(local: Local) -> None:
    scrub = Scrubber(redact.make("", None, False), None, project="p", source="batch")
    lines = _lines(_values())
    clear = _clear(local, scrub, lines)
    wrong = [line for line, ok in zip(lines, clear, strict=True) if ok and scrub._line(line) != line]
    assert not wrong, wrong[:5]
    changed = sum(scrub._line(line) != line for line in lines)
    assert changed > 300 and sum(clear) > 1000  # the corpus is redacted; most random strings are not


def test_seed_lines_are_clear_and_lines_with_pii_are_not(local: Local) -> None:
    scrub = Scrubber(redact.make("", None, False), None, project="p", source="batch")
    seeds = [json.dumps(dict(SEED_EVENT, request_id=f"req_{i:09d}", user_id_hash=f"h_{i * 7919:08x}")).encode()
             for i in range(200)]
    pii = [json.dumps(dict(SEED_EVENT, user_id="ann@example.com")).encode(),
           json.dumps(dict(SEED_EVENT, route="call +44 20 7946 0958")).encode(),
           json.dumps(dict(SEED_EVENT, metadata={"k": "v"})).encode(),
           json.dumps(dict(SEED_EVENT, route="caf\u00e9"), ensure_ascii=False).encode()]
    assert _clear(local, scrub, seeds + pii) == [True] * len(seeds) + [False] * len(pii)


def test_settings_that_search_every_value_clear_no_line(local: Local) -> None:
    custom = Scrubber(redact.make("TICKET=T-[0-9]+", None, False), None, project="p", source="batch")
    assert screen.clear_sql(custom) == screen.CLEAR_NONE
    off = Scrubber(None, None, project="p", source="batch")
    assert screen.clear_sql(off) == screen.CLEAR_ALL
    sampled = Scrubber(None, Policy(default=Rule.parse("sampled:0.5")), project="p", source="batch")
    lines = [json.dumps(dict(SEED_EVENT, input="hi")).encode(), json.dumps(SEED_EVENT).encode()]
    assert _clear(local, sampled, lines) == [False, True]


def test_the_table_is_read_in_place(local: Local) -> None:
    tt_batch_lines = pa.table({"line_no": pa.array([3], pa.uint64()), "line": pa.array([b"{}\r"], pa.binary()),  # noqa: F841
                               "src": pa.array([1], pa.uint32())})
    assert local.store.query(f"SELECT line_no, line FROM {PY_LINES}") == [{"line_no": 3, "line": "{}\r"}]
