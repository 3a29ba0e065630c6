"""PagerDuty Events API v2: ``trigger`` on firing and ``resolve`` on resolved, sharing one dedup_key,
so PagerDuty opens one incident per alert and closes it when the alert resolves."""

from __future__ import annotations

from typing import Any

from tokentrail.alerts.notify.base import Notification
from tokentrail.alerts.notify.http import json_bytes, post

# Events API v2 severities: critical, error, warning, info
SEVERITY = {"page": "critical", "ticket": "warning", "info": "info"}


def payload(n: Notification, routing_key: str) -> dict[str, Any]:
    if n.status == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": n.dedup_key}
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": n.dedup_key,
        "payload": {
            "summary": n.summary[:1024],
            "source": f"tokentrail/{n.project}",
            "severity": SEVERITY.get(n.severity, "error"),
            "timestamp": n.started_at.isoformat(),
            "component": n.labels.get("route") or n.labels.get("model") or n.project,
            "group": n.project,
            "class": n.rule,
            "custom_details": {"labels": n.labels, "value": n.value, "threshold": n.threshold,
                               "description": n.description, **n.details},
        },
        "client": "tokentrail",
    }
    if n.explain_url:
        body["client_url"] = n.explain_url
        body["links"] = [{"href": n.explain_url, "text": "Why did this change? (tokentrail explainer)"}]
    return body


class PagerDutyReceiver:
    kind = "pagerduty"
    DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"

    def __init__(self, name: str, routing_key: str, url: str = DEFAULT_URL) -> None:
        self.name, self.routing_key, self.url = name, routing_key, url

    def send(self, n: Notification) -> None:
        post(self.url, content=json_bytes(payload(n, self.routing_key)),
             headers={"Content-Type": "application/json"}, accept=(200, 202))
