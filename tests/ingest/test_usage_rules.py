"""input_tokens means the same from every source: it includes cached and cache-write input. Sources that
report Anthropic-style usage (input WITHOUT the cache) get the cache added, and the span records which
rule was applied (``tokentrail.usage_rule``) so a cost can be audited later."""

from __future__ import annotations

import json

import pytest

from tests.ingest.otel_helpers import provider_exporting_to
from tests.support import ServerThread

CASES = {
    # Langfuse usage_details as its Anthropic integration reports them: input excludes the cache
    "anthropic-keys": ({"input": 3, "output": 10, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 2},
                       "claude-haiku-4-5-20251001", (9, 10, 4, 2), "input+cache_read+cache_write"),
    "anthropic-raw": ({"input_tokens": 3, "output_tokens": 10, "cache_read_input_tokens": 4,
                       "cache_creation_input_tokens": 0}, "claude-haiku-4-5-20251001", (7, 10, 4, 0),
                      "input+cache_read+cache_write"),
    # OpenAI's usage: prompt_tokens already includes the cached ones
    "openai": ({"prompt_tokens": 9, "completion_tokens": 13, "prompt_tokens_details": {"cached_tokens": 4},
                "completion_tokens_details": {"reasoning_tokens": 3}}, "gpt-4o-mini-2024-07-18", (9, 13, 4, 0),
               "reported"),
    "no-cache": ({"input": 9, "output": 10}, "gpt-4o-mini-2024-07-18", (9, 10, 0, 0), None),
}


@pytest.mark.parametrize("case", CASES)
def test_langfuse_usage_adds_up_like_every_other_source(server: ServerThread, case: str) -> None:
    usage, model, tokens, rule = CASES[case]
    project = f"usage-{case}"  # the test-name project is cut at 60 characters: the cases would share one
    provider = provider_exporting_to(server.url, project)
    with provider.get_tracer("langfuse-sdk").start_as_current_span("generation", attributes={
            "langfuse.observation.type": "generation", "langfuse.observation.model.name": model,
            "langfuse.observation.usage_details": json.dumps(usage)}):
        pass
    provider.shutdown()
    row = server.query("SELECT * FROM tokentrail.spans FINAL WHERE project = {p:String}", {"p": project})[0]
    assert (row["input_tokens"], row["output_tokens"], row["cached_input_tokens"], row["cache_write_tokens"]) == tokens
    assert row["attributes"].get("tokentrail.usage_rule") == rule
