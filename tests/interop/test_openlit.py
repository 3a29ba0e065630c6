"""OpenLIT exporting to tokentrail (issue #11)."""

from __future__ import annotations

import pytest

from tests.interop.harness import ANTHROPIC_SCENARIOS, OPENAI_SCENARIOS, Run, Sends, check

LIB = "openlit"
# No reasoning tokens; no prompt on a failed OpenAI call; its span of a failed Anthropic call has no
# attributes at all (no model, user or session): the anthropic SDK's own span is then the counted call.
# Anthropic input tokens arrive without the cache and are stored with it (9 = 3 + 4 + 2).
SENDS = Sends(reasoning_tokens=False, error_content=False, anthropic_error_attributes=False)


@pytest.mark.parametrize("scenario", OPENAI_SCENARIOS + ANTHROPIC_SCENARIOS)
def test_scenario(library_run: Run, scenario: str) -> None:
    check(library_run, scenario, SENDS)
    if scenario in ("openai_chat", "anthropic_message"):  # gen_ai.server.time_to_first_token = latency here
        assert all(r["ttft_ms"] is None for r in library_run.rows(scenario))
