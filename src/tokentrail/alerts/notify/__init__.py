"""Notification receivers and their dispatcher.

A receiver turns one :class:`Notification` (an alert firing or resolving) into the payload its
service expects and sends it; :class:`Dispatcher` gives every receiver its own queue and worker
thread with retries and backoff, and keeps per-receiver status for the alerts page.
"""

from tokentrail.alerts.notify.base import Delivery, Notification, Receiver, ReceiverError
from tokentrail.alerts.notify.dispatcher import Dispatcher, ReceiverStatus
from tokentrail.alerts.notify.email import EmailReceiver
from tokentrail.alerts.notify.pagerduty import PagerDutyReceiver
from tokentrail.alerts.notify.slack import SlackReceiver
from tokentrail.alerts.notify.webhook import WebhookReceiver, sign, verify

__all__ = ["Delivery", "Dispatcher", "EmailReceiver", "Notification", "PagerDutyReceiver", "Receiver",
           "ReceiverError", "ReceiverStatus", "SlackReceiver", "WebhookReceiver", "sign", "verify",
           "receiver_from_config"]


def receiver_from_config(name: str, spec: dict) -> Receiver:
    """One receiver from its config table: ``{type = "slack", url = ...}`` etc. Raises ValueError."""
    kind = str(spec.get("type", "")).lower()
    try:
        if kind == "slack":
            return SlackReceiver(name, url=spec["url"])
        if kind == "pagerduty":
            return PagerDutyReceiver(name, routing_key=spec["routing_key"],
                                     url=spec.get("url", PagerDutyReceiver.DEFAULT_URL))
        if kind == "webhook":
            return WebhookReceiver(name, url=spec["url"], secret=spec.get("secret", ""),
                                   headers=dict(spec.get("headers", {})))
        if kind == "email":
            return EmailReceiver(name, host=spec.get("host", "localhost"), port=int(spec.get("port", 25)),
                                 sender=spec["from"], to=list(spec["to"]) if not isinstance(spec["to"], str)
                                 else [spec["to"]], username=spec.get("username", ""),
                                 password=spec.get("password", ""), starttls=bool(spec.get("starttls", False)))
    except KeyError as e:
        raise ValueError(f"receiver {name!r} ({kind}) needs {e.args[0]!r}") from e
    raise ValueError(f"receiver {name!r}: type must be slack, pagerduty, webhook or email (got {kind!r})")
