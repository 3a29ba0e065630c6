"""OpenInference (openinference-instrumentation-openai/-anthropic) exporting to tokentrail (issue #11)."""

from __future__ import annotations

import pytest

from tests.interop.harness import ANTHROPIC_SCENARIOS, OPENAI_SCENARIOS, Run, Sends, check

LIB = "openinference"
# No error type / HTTP status attributes (taken from the exception event and the status message), no
# streaming flag (taken from llm.invocation_parameters), TTFT only as an event on OpenAI streams: on an
# Anthropic stream only the anthropic SDK's own span has it (counted in the OpenInference span, which
# takes its TTFT: ingest/dedupe.py).
SENDS = Sends()


@pytest.mark.parametrize("scenario", OPENAI_SCENARIOS + ANTHROPIC_SCENARIOS)
def test_scenario(library_run: Run, scenario: str) -> None:
    check(library_run, scenario, SENDS)
