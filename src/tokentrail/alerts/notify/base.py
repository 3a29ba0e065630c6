"""What every receiver gets: one alert firing or resolving, with its explanation link."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class ReceiverError(Exception):
    """A delivery failed. ``retry``: worth trying again (5xx, 429, network); False: the payload
    or the configuration is wrong (4xx), retrying cannot help."""

    def __init__(self, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class Notification:
    rule: str                      # the rule's name
    status: str                    # "firing" or "resolved"
    severity: str                  # "page", "ticket" or "info"
    summary: str                   # one line: what is wrong, with the numbers
    project: str
    dedup_key: str                 # stable for one alert (rule + group labels): trigger and resolve share it
    started_at: datetime
    labels: dict[str, str] = field(default_factory=dict)   # group labels: route, model, user ...
    value: float | None = None
    threshold: float | None = None
    description: str = ""          # longer text: the baseline, the window
    explain_url: str = ""          # the spike explainer for this alert
    resolved_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)  # top contributors etc.

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "status": self.status, "severity": self.severity, "summary": self.summary,
                "project": self.project, "dedup_key": self.dedup_key, "labels": dict(self.labels),
                "value": self.value, "threshold": self.threshold, "description": self.description,
                "explain_url": self.explain_url, "started_at": self.started_at.isoformat(),
                "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
                "details": self.details}


@dataclass(frozen=True)
class Delivery:
    receiver: str
    ok: bool
    attempts: int
    error: str = ""


class Receiver(Protocol):
    name: str
    kind: str

    def send(self, n: Notification) -> None:
        """Deliver once; raise ReceiverError on failure."""
