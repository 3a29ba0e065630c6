"""The audit log: who read content, changed keys or policy, exported or purged, when and from where.

``record(store, actor=..., action=...)`` is what every caller uses: it only appends to a bounded
in-memory buffer (no I/O, never raises) that a background thread inserts into the ``audit_log``
table every second, or at once when it holds ``FLUSH_ROWS`` rows. A row that cannot be kept (buffer
full, store failing past its retries) is counted and the count itself is written as an
``audit.dropped`` row once the store takes inserts again: nothing is lost silently.

``search`` reads the log back (filters: actor, action, project, time range); it first writes the
rows still buffered, so a caller sees its own actions.
"""

from __future__ import annotations

from tokentrail.audit.buffer import close, dropped, flush, record, record_request
from tokentrail.audit.search import MAX_LIMIT, search

__all__ = ["MAX_LIMIT", "close", "dropped", "flush", "record", "record_request", "search"]
