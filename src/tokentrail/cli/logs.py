"""The server's log lines: one logfmt line each (``ts=... level=... logger=... msg="..."``), so they
read well and parse with any log shipper; quiet by default (the HTTP client libraries' per-request
INFO lines are shown only at ``--log-level debug``)."""

from __future__ import annotations

import logging
import time

NOISY = ("httpx", "httpcore", "hpack", "multipart", "aiosmtpd")


def _quote(value: str) -> str:
    if value and not any(c in value for c in ' "=\\\n\t'):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


class Logfmt(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line = f"ts={ts} level={record.levelname.lower()} logger={record.name} msg={_quote(record.getMessage())}"
        if record.exc_info:
            line += " exc=" + _quote(self.formatException(record.exc_info))
        return line


def configure(level: str) -> None:
    """Root logging for ``tokentrail serve`` at ``level`` (debug, info, warning, error)."""
    handler = logging.StreamHandler()
    handler.setFormatter(Logfmt())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if level.lower() == "debug" else logging.WARNING)
