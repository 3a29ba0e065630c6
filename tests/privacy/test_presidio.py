"""The optional Presidio backend (extra tokentrail[presidio]): names and places after the rules."""

from __future__ import annotations

import pytest

pytest.importorskip("presidio_analyzer")
pytest.importorskip("presidio_anonymizer")

from tokentrail.privacy.redact import make  # noqa: E402


def test_names_are_redacted_after_the_rules() -> None:
    try:
        r = make("", None, presidio=True)
        out, counts = r.redact("Please call John Smith in Berlin at +44 20 7946 0958.")
    except (OSError, RuntimeError) as e:  # no spaCy model installed
        pytest.skip(str(e))
    assert "John Smith" not in out and "<PERSON>" in out
    assert "<PHONE>" in out and counts["PHONE"] == 1
