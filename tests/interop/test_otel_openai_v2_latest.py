"""opentelemetry-instrumentation-openai-v2 with OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental
and content capture span_and_event: content in gen_ai.input/output.messages span attributes (issue #11)."""

from __future__ import annotations

import pytest

from tests.interop.harness import OPENAI_SCENARIOS, Run, Sends, check

LIB = "otel-openai-v2-latest"
# No user/session, no cache or reasoning tokens, no streaming flag or TTFT, no finish reason on a stream,
# no content for embeddings.
SENDS = Sends(user_session=False, cached_tokens=False, reasoning_tokens=False, streamed_flag=False,
              openai_ttft=False, stream_finish=False, embedding_content=False)


@pytest.mark.parametrize("scenario", OPENAI_SCENARIOS)
def test_scenario(library_run: Run, scenario: str) -> None:
    check(library_run, scenario, SENDS)
