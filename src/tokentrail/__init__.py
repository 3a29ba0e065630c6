"""tokentrail: self-hosted LLM observability. The SDK's public API::

    import tokentrail
    tokentrail.init(project="my-app")            # instruments openai and anthropic
    with tokentrail.context(user_id="u-1", route="support-chat"):
        client.chat.completions.create(...)       # recorded, without blocking the app

Everything else (server, storage, CLI) lives in subpackages and is not imported here.
"""

from tokentrail.sdk._capture import redact_pii, set_capture
from tokentrail.sdk._context import context
from tokentrail.sdk._feedback import Validation, current_trace_id, feedback, last_call, validate
from tokentrail.sdk._observe import observe
from tokentrail.sdk._state import flush, init, shutdown, stats
from tokentrail.sdk.instrument import instrument_anthropic, instrument_openai

__all__ = [
    "Validation",
    "context",
    "current_trace_id",
    "feedback",
    "flush",
    "init",
    "instrument_anthropic",
    "instrument_openai",
    "last_call",
    "observe",
    "redact_pii",
    "set_capture",
    "shutdown",
    "stats",
    "validate",
]
