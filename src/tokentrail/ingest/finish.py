"""The canonical finish reason: one vocabulary over every provider's and library's raw value.

Spans keep the raw value (``finish_reason``: ``end_turn``, ``max_tokens``, ``tool_use``, ``STOP`` ...);
the engine derives ``finish`` from it at insert (a MATERIALIZED column, so the SDK, gateway, OTLP,
batch and re-inserted rows all get the same mapping, and stores made before it read it computed):

- ``stop``: the model ended its answer (``stop``, ``end_turn``, ``stop_sequence``, Gemini ``STOP`` ...);
- ``length``: cut by a token limit (``length``, ``max_tokens``, ``max_output_tokens`` ...);
- ``tool_calls``: it asked for tools (``tool_calls``, ``tool_call``, ``tool_use``, ``function_call``);
- ``content_filter``: refused or filtered (``content_filter``, ``refusal``, ``safety``, ``recitation`` ...);
- ``error``: the call failed with no finish reason; ``other``: any other raw value; ``''``: none recorded.
The UI, the ``finish`` filter and the quality page read the canonical value.
"""

from __future__ import annotations

CANONICAL = ("stop", "length", "tool_calls", "content_filter", "error", "other")

# raw value (lower case) -> canonical
RAW: dict[str, str] = {
    **dict.fromkeys(("stop", "end_turn", "stop_sequence", "end", "eos", "eos_token", "complete", "completed",
                     "finish", "finished", "pause_turn"), "stop"),
    **dict.fromkeys(("length", "max_tokens", "max_output_tokens", "max_tokens_reached", "token_limit",
                     "model_context_window_exceeded", "model_length", "incomplete"), "length"),
    **dict.fromkeys(("tool_calls", "tool_call", "tool_use", "function_call", "tools", "malformed_function_call"),
                    "tool_calls"),
    **dict.fromkeys(("content_filter", "content_filtered", "refusal", "safety", "recitation", "blocklist",
                     "prohibited_content", "spii", "guardrail_intervened"), "content_filter"),
    "error": "error",
}


def canonical(raw: str) -> str:
    """The canonical value of one raw finish reason (the Python twin of ``sql``)."""
    value = raw.strip().lower()
    return RAW.get(value, "other") if value else ""


def sql(raw: str = "finish_reason", status: str = "status") -> str:
    """The engine expression of the canonical value of ``raw`` (a failed call without one: ``error``)."""
    keys = "[" + ", ".join(f"'{k}'" for k in RAW) + "]"
    values = "[" + ", ".join(f"'{v}'" for v in RAW.values()) + "]"
    return (f"if(trimBoth({raw}) = '', if({status} = 'error', 'error', ''), "
            f"transform(lower(trimBoth({raw})), {keys}, {values}, 'other'))")
