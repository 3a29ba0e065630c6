"""Batch-file lines are redacted in Python before the engine, a temp file or the dead-letter file sees
them (``Scrubber.lines``): flat events, OTLP/JSON requests and lines that are not JSON."""

from __future__ import annotations

import json

from tokentrail.privacy.policy import Policy, Rule
from tokentrail.privacy.redact import default
from tokentrail.privacy.walk import Scrubber

TEXT = "reach jane.doe@example.com or +44 20 7946 0958, order ORD-2024-000123"


def test_flat_event_strings_are_redacted_and_counted_newlines_kept() -> None:
    data = (json.dumps({"model": "gpt-4o-mini", "input": TEXT, "error_message": TEXT}) + "\n\n"
            + "not json " + TEXT + "\n").encode()
    out = Scrubber(default(), Policy()).lines(data)
    assert out.count(b"\n") == data.count(b"\n")
    first, _, bad, _ = out.decode().split("\n")
    event = json.loads(first)
    assert event["input"] == "reach <EMAIL> or <PHONE>, order ORD-2024-000123"
    assert event["attributes"]["tokentrail.redacted"] == "EMAIL:2,PHONE:2"
    assert bad == "not json reach <EMAIL> or <PHONE>, order ORD-2024-000123"


def test_otlp_json_line_is_redacted() -> None:
    line = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [
        {"key": "tokentrail.input", "value": {"stringValue": TEXT}}]}]}]}]}).encode()
    out = Scrubber(default(), Policy()).lines(line)
    assert b"jane.doe" not in out and b"<EMAIL>" in out


def test_content_the_policy_does_not_keep_is_dropped_from_the_line() -> None:
    data = "\n".join(json.dumps({"model": "m", "request_id": f"r{i}", "input": "hello there", "output": "hi"})
                     for i in range(4)).encode()
    out = Scrubber(default(), Policy(default=Rule.parse("off"))).lines(data)
    assert all("input" not in json.loads(line) for line in out.decode().split("\n"))


def test_a_line_without_pii_is_left_byte_for_byte() -> None:
    data = b'{"model":"gpt-4o-mini","input":"hello","output":"world"}\n'
    assert Scrubber(default(), Policy()).lines(data) is data
