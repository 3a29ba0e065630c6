"""Receivers deliver the exact payload formats of Slack, PagerDuty Events v2, a signed webhook and
SMTP, to real local servers; a failing receiver is retried and never blocks the others."""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes

import jsonschema
import pytest

from tests.alerts.receivers import endpoint
from tokentrail.alerts.notify import (
    Dispatcher,
    EmailReceiver,
    Notification,
    PagerDutyReceiver,
    SlackReceiver,
    WebhookReceiver,
    receiver_from_config,
    verify,
)

STARTED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _note(status: str = "firing", **kw) -> Notification:
    base = dict(rule="retry-loop", status=status, severity="page", project="shop",
                summary="tokens 412,000 in 10 min vs 9,800 expected (42x)", dedup_key="retry-loop/route=checkout",
                started_at=STARTED, labels={"route": "checkout", "model": "gpt-4o-mini"}, value=412000.0,
                threshold=40000.0, description="<baseline> 7-day median & MAD",
                explain_url="http://127.0.0.1:4318/ui/explain?alert=retry-loop",
                resolved_at=STARTED + timedelta(minutes=25) if status == "resolved" else None)
    base.update(kw)
    return Notification(**base)


# PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/), as a schema
PD_TRIGGER = {
    "type": "object",
    "required": ["routing_key", "event_action", "payload"],
    "properties": {
        "routing_key": {"type": "string", "minLength": 32, "maxLength": 32},
        "event_action": {"enum": ["trigger"]},
        "dedup_key": {"type": "string", "maxLength": 255},
        "payload": {
            "type": "object",
            "required": ["summary", "source", "severity"],
            "properties": {
                "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
                "source": {"type": "string", "minLength": 1},
                "severity": {"enum": ["critical", "error", "warning", "info"]},
                "timestamp": {"type": "string", "format": "date-time"},
                "component": {"type": "string"}, "group": {"type": "string"}, "class": {"type": "string"},
                "custom_details": {"type": "object"},
            },
            "additionalProperties": False,
        },
        "images": {"type": "array"},
        "links": {"type": "array", "items": {"type": "object", "required": ["href"],
                                             "properties": {"href": {"type": "string"}, "text": {"type": "string"}}}},
        "client": {"type": "string"}, "client_url": {"type": "string"},
    },
    "additionalProperties": False,
}
PD_RESOLVE = {
    "type": "object", "required": ["routing_key", "event_action", "dedup_key"],
    "properties": {"routing_key": {"type": "string"}, "event_action": {"enum": ["resolve"]},
                   "dedup_key": {"type": "string", "minLength": 1, "maxLength": 255}},
    "additionalProperties": False,
}
ROUTING_KEY = "R0123456789abcdef0123456789abcde"[:32]


def test_pagerduty_trigger_and_resolve_share_the_dedup_key() -> None:
    answer = b'{"status":"success","message":"Event processed","dedup_key":"x"}'
    with endpoint(default=202, answer=answer) as ep:
        pd = PagerDutyReceiver("pd", routing_key=ROUTING_KEY, url=ep.url)
        pd.send(_note("firing"))
        pd.send(_note("resolved"))
        trigger, resolve = (r.json for r in ep.received)
    jsonschema.validate(trigger, PD_TRIGGER, format_checker=jsonschema.FormatChecker())
    jsonschema.validate(resolve, PD_RESOLVE)
    assert trigger["dedup_key"] == resolve["dedup_key"] == "retry-loop/route=checkout"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["summary"].startswith("tokens 412,000")
    assert trigger["links"][0]["href"].endswith("alert=retry-loop")
    assert ep.received[0].headers["content-type"] == "application/json"


def _check_slack_blocks(body: dict) -> None:
    """Slack Block Kit limits (https://api.slack.com/reference/block-kit/blocks)."""
    assert isinstance(body["text"], str) and body["text"]
    assert 1 <= len(body["blocks"]) <= 50
    for b in body["blocks"]:
        assert b["type"] in {"header", "section", "context", "actions", "divider"}
        if b["type"] == "header":
            assert b["text"]["type"] == "plain_text" and len(b["text"]["text"]) <= 150
        if b["type"] == "section":
            assert b["text"]["type"] == "mrkdwn" and len(b["text"]["text"]) <= 3000
            assert len(b.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in b.get("fields", []))
        if b["type"] == "actions":
            for e in b["elements"]:
                assert e["type"] == "button" and e["url"].startswith("http") and len(e["text"]["text"]) <= 75


def test_slack_incoming_webhook_blocks() -> None:
    with endpoint() as ep:
        SlackReceiver("slack", url=ep.url).send(_note())
        body = ep.received[0].json
    _check_slack_blocks(body)
    assert "retry-loop" in body["blocks"][0]["text"]["text"] and "FIRING" in body["blocks"][0]["text"]["text"]
    # mrkdwn control characters are escaped, so a label cannot inject a link or a mention
    assert "&lt;baseline&gt; 7-day median &amp; MAD" in str(body["blocks"])


def test_webhook_is_signed_with_hmac_sha256() -> None:
    with endpoint() as ep:
        WebhookReceiver("hook", url=ep.url, secret="s3cret").send(_note())
        got = ep.received[0]
    ts, sig = got.headers["x-tokentrail-timestamp"], got.headers["x-tokentrail-signature"]
    expected = "sha256=" + hmac.new(b"s3cret", ts.encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert sig == expected
    assert verify("s3cret", ts, got.body, sig)
    assert not verify("other", ts, got.body, sig)
    assert not verify("s3cret", ts, got.body + b" ", sig)
    assert not verify("s3cret", str(int(ts) - 3600), got.body, sig)  # replayed an hour later
    body = got.json
    assert body["rule"] == "retry-loop" and body["status"] == "firing" and body["labels"]["route"] == "checkout"


def test_email_over_smtp() -> None:
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")

    class Handler:
        def __init__(self) -> None:
            self.messages: list = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            self.messages.append(envelope)
            return "250 OK"

    handler = Handler()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctl = aiosmtpd.Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        EmailReceiver("mail", host="127.0.0.1", port=port, sender="tt@example.org",
                      to=["oncall@example.org"]).send(_note())
    finally:
        ctl.stop()
    env = handler.messages[0]
    assert env.mail_from == "tt@example.org" and env.rcpt_tos == ["oncall@example.org"]
    msg = message_from_bytes(env.content)
    assert msg["Subject"].startswith("[tokentrail FIRING] retry-loop")
    assert "http://127.0.0.1:4318/ui/explain?alert=retry-loop" in msg.get_payload()


def test_a_500_is_retried_and_a_dead_receiver_blocks_no_one() -> None:
    with endpoint(statuses=[500, 503]) as flaky, endpoint(default=500) as dead, \
            endpoint(delay=6.0) as slow, endpoint() as healthy:
        done = []
        d = Dispatcher([WebhookReceiver("flaky", flaky.url), WebhookReceiver("dead", dead.url),
                        WebhookReceiver("slow", slow.url), SlackReceiver("healthy", healthy.url)],
                       max_attempts=3, base_delay=0.05, on_delivery=lambda n, dl: done.append(dl))
        try:
            d.submit(_note())
            healthy.wait_for(1)
            assert len(healthy.received) == 1
            assert slow.received == []  # still sleeping in its handler: it held no one else
            flaky.wait_for(1)
            assert flaky.attempts == 3 and len(flaky.received) == 1
            deadline = time.monotonic() + 40
            while len(done) < 4 and time.monotonic() < deadline:
                time.sleep(0.02)
            by = {x.receiver: x for x in done}
            assert by["dead"].ok is False and by["dead"].attempts == 3 and "HTTP 500" in by["dead"].error
            assert by["flaky"].ok and by["flaky"].attempts == 3
            assert by["healthy"].ok and by["slow"].ok
            status = {s["name"]: s for s in d.status()}
            assert status["dead"]["failed"] == 1 and not status["dead"]["healthy"]
            assert status["flaky"]["sent"] == 1 and status["flaky"]["retries"] == 2
        finally:
            d.stop()


def test_a_4xx_is_not_retried() -> None:
    with endpoint(default=400, answer=b"invalid_payload") as ep:
        done = []
        d = Dispatcher([SlackReceiver("s", ep.url)], base_delay=0.01, on_delivery=lambda n, dl: done.append(dl))
        d.submit(_note())
        deadline = time.monotonic() + 10
        while not done and time.monotonic() < deadline:
            time.sleep(0.02)
        d.stop()
    assert ep.attempts == 1 and done[0].ok is False and "invalid_payload" in done[0].error


def test_receiver_config_errors_name_the_missing_field() -> None:
    with pytest.raises(ValueError, match="'routing_key'"):
        receiver_from_config("pd", {"type": "pagerduty"})
    with pytest.raises(ValueError, match="type must be"):
        receiver_from_config("x", {"type": "carrier-pigeon"})
    assert receiver_from_config("w", {"type": "webhook", "url": "http://x"}).kind == "webhook"
