"""The Langfuse Python SDK (v3+, OTel based) exporting to tokentrail's Langfuse-compatible endpoint
(``/api/public/otel/v1/traces``, Basic auth, gzip) (issue #11). OpenAI through ``langfuse.openai``;
Anthropic through OpenInference's instrumentor on Langfuse's tracer provider (Langfuse's documented way)."""

from __future__ import annotations

import pytest

from tests.interop.harness import ANTHROPIC_SCENARIOS, OPENAI_SCENARIOS, Run, Sends, check

LIB = "langfuse"
NEEDS_PATHS = ("/api/public/otel/v1/traces",)
SERVER_SETTINGS = {"langfuse_keys": "pk-lf-interop:sk-lf-interop=default"}  # capture.py's key pair
# No provider (from the model name), no streaming flag (a completion_start_time means a stream), no error
# type or HTTP status (from the client's "Error code: 429" status message), a finish reason only on streams;
# Anthropic calls are OpenInference spans (their TTFT comes from the anthropic SDK's own span). One model name
# per generation: the answered one once the call succeeded, with no record of the requested one.
SENDS = Sends(chat_finish=False, request_model=False)


@pytest.mark.parametrize("scenario", OPENAI_SCENARIOS + ANTHROPIC_SCENARIOS)
def test_scenario(library_run: Run, scenario: str) -> None:
    if scenario.startswith("anthropic"):
        check(library_run, scenario, Sends())
    else:
        check(library_run, scenario, SENDS)
    root = [r for r in library_run.rows(scenario) if r["name"] == scenario]
    assert len(root) == 1 and root[0]["kind"] == "chain"
    assert all(r["environment"] == "interop" for r in library_run.rows(scenario))
