"""tokentrail's own keys: what its SDK, gateway and batch loader set."""

KEYS = {
    "kind": ("tokentrail.kind",),
    "provider": ("tokentrail.provider",),
    "ttft_ms": ("tokentrail.ttft_ms",),
    "streamed": ("tokentrail.streamed",),
    "tokens_estimated": ("tokentrail.tokens_estimated",),
    "cache_hit": ("tokentrail.cache_hit",),
    "schema_valid": ("tokentrail.schema_valid",),
    "http_status": ("tokentrail.http_status",),
    "user_id": ("tokentrail.user_id",),
    "session_id": ("tokentrail.session_id",),
    "route": ("tokentrail.route",),
    "customer": ("tokentrail.customer",),
    "environment": ("tokentrail.environment",),
    "release": ("tokentrail.release",),
    "tags": ("tokentrail.tags",),
    "project": ("tokentrail.project",),
    "input": ("tokentrail.input",),
    "output": ("tokentrail.output",),
    "captured_reason": ("tokentrail.capture_reason",),
}

KIND_VALUES = {"tokentrail.kind": {k: k for k in
                                   ("llm", "embedding", "tool", "retrieval", "agent", "chain", "other")}}
