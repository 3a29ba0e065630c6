"""OpenLLMetry (traceloop-sdk) exporting to tokentrail (issue #11)."""

from __future__ import annotations

import pytest

from tests.interop.harness import ANTHROPIC_SCENARIOS, OPENAI_SCENARIOS, Run, Sends, check

LIB = "traceloop"
# TTFT: an OpenAI stream's chunks are span events (the first one's time minus the span start); an Anthropic
# stream's comes from the anthropic SDK's own span. Finish reasons arrive mapped to the semconv values
# (Anthropic's end_turn -> "stop", OpenAI's tool_calls -> "tool_call"). Every call is wrapped in a
# <scenario>.workflow span (kind chain, route = the workflow name).
SENDS = Sends(anthropic_finish="stop", tool_finish="tool_call")


@pytest.mark.parametrize("scenario", OPENAI_SCENARIOS + ANTHROPIC_SCENARIOS)
def test_scenario(library_run: Run, scenario: str) -> None:
    check(library_run, scenario, SENDS)
    workflow = [r for r in library_run.rows(scenario) if r["name"] == f"{scenario}.workflow"]
    assert len(workflow) == 1 and workflow[0]["kind"] == "chain"
    assert all(r["route"] == scenario for r in library_run.rows(scenario))


def test_request_headers_are_not_stored(library_run: Run) -> None:
    """OpenLLMetry records the app's extra request headers as ``gen_ai.headers``; they may hold
    credentials, so tokentrail does not keep them."""
    rows = library_run.rows("openai_chat_cached")  # sent with an extra X-Fake-Scenario header
    assert rows and all("gen_ai.headers" not in r["attributes"] for r in rows)
