"""Slack incoming webhook: ``text`` (the notification fallback) plus Block Kit blocks."""

from __future__ import annotations

from typing import Any

from tokentrail.alerts.notify.base import Notification
from tokentrail.alerts.notify.http import json_bytes, post

_ICON = {"firing": ":rotating_light:", "resolved": ":white_check_mark:"}


def _mrkdwn_escape(text: str) -> str:
    # Slack's mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(n: Notification) -> dict[str, Any]:
    title = f"[{n.status.upper()}] {n.rule}"
    fields = [{"type": "mrkdwn", "text": f"*Project*\n{_mrkdwn_escape(n.project)}"},
              {"type": "mrkdwn", "text": f"*Severity*\n{n.severity}"}]
    for k, v in list(n.labels.items())[:6]:
        fields.append({"type": "mrkdwn", "text": f"*{_mrkdwn_escape(k)}*\n{_mrkdwn_escape(str(v))[:200]}"})
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": f"{_ICON.get(n.status, '')} {_mrkdwn_escape(n.summary)}"[:3000]},
         "fields": fields[:10]},
    ]
    if n.description:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn_escape(n.description)[:3000]}})
    context = f"started {n.started_at:%Y-%m-%d %H:%M UTC}"
    if n.resolved_at:
        context += f" · resolved {n.resolved_at:%Y-%m-%d %H:%M UTC}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    if n.explain_url:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Why? (explain)"}, "url": n.explain_url}]})
    return {"text": f"{title}: {n.summary}"[:3000], "blocks": blocks}


class SlackReceiver:
    kind = "slack"

    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url

    def send(self, n: Notification) -> None:
        post(self.url, content=json_bytes(payload(n)), headers={"Content-Type": "application/json"})
