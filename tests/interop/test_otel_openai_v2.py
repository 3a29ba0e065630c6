"""opentelemetry-instrumentation-openai-v2 exporting to tokentrail (issue #11), in both modes:
the legacy path (content only in OTLP log records) and the latest experimental semconv
(content in span attributes too). OpenAI only."""

from __future__ import annotations

import pytest

from tests.interop.harness import OPENAI_SCENARIOS, Run, Sends, check

LIB = "otel-openai-v2"
# No user/session API, no cache or reasoning tokens, no streaming flag, no TTFT and no finish reason on a
# stream; content only in log records (gen_ai.*.message bodies), which /v1/logs stores.
NO_CONTENT = dict(user_session=False, cached_tokens=False, reasoning_tokens=False, streamed_flag=False,
                  openai_ttft=False, stream_finish=False, embedding_content=False)


@pytest.mark.parametrize("scenario", OPENAI_SCENARIOS)
def test_scenario(library_run: Run, scenario: str) -> None:
    check(library_run, scenario, Sends(**NO_CONTENT))
