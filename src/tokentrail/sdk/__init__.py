"""tokentrail's Python SDK. Import the public names from ``tokentrail``; everything here is private.

Where things are: ``_config`` (the settings table), ``_state`` (init/flush/shutdown/stats),
``_context`` (tokentrail.context), ``_observe`` (observe), ``_feedback`` (feedback, validate),
``_capture`` (content policy, redaction), ``instrument/`` (the generic LLM wrapper and one
adapter per provider), ``_records`` (what the app's thread queues), ``_export`` (the export
thread), ``_otlp`` / ``_files`` (sinks: server, log files), ``_spool`` (disk spool),
``_encode`` (OTLP protobuf and JSON lines), ``_otel`` (the app's own spans, optional).
"""

from tokentrail.sdk._state import stats

__all__ = ["stats"]
