"""Why a call has no content, in words that hold for that call: the server's rule, whether the trace is in
its sample, whether the call failed, and who can change it (the server's policy, or the sender)."""

from __future__ import annotations

from tokentrail.privacy.policy import Policy, Rule
from tokentrail.query.capture_why import explain

TRACE = "00" * 16


def _span(source: str, status: str = "ok", route: str = "faq") -> dict[str, str]:
    return {"trace_id": TRACE, "route": route, "source": source, "status": status}


def test_a_failed_sdk_call_the_server_would_keep_blames_the_sdk_setting_not_its_default() -> None:
    why = explain(Policy(default=Rule(1.0, True, True)), "p", _span("sdk", "error"))
    assert why["code"] == "not-sent" and why["fix_in"] == "sender"
    assert "unless capture is off" in why["text"] and "1% of" not in why["text"]
    assert "capture-policy" not in why["change"]  # the server keeps everything already: the fix is the sender's


def test_a_successful_sdk_call_names_the_sdk_sample() -> None:
    why = explain(Policy(default=Rule(1.0, True, True)), "p", _span("sdk"))
    assert why["fix_in"] == "sender" and "1% of successful calls" in why["text"]
    assert 'capture="always"' in why["change"]


def test_a_library_call_names_the_library_switches() -> None:
    why = explain(Policy(default=Rule(1.0, True, True)), "p", _span("otlp"))
    assert why["fix_in"] == "sender" and "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT" in why["change"]


def test_the_servers_own_rule_gives_the_policy_command() -> None:
    off = explain(Policy(default=Rule(0.0, False, False)), "p", _span("sdk"))
    assert off["code"] == "policy-off" and off["fix_in"] == "server"
    assert off["change"] == "tokentrail capture-policy set always --project p --route faq"
    errors_only = explain(Policy(default=Rule(0.0, True, True)), "p", _span("sdk"))
    assert errors_only["code"] == "errors-only" and "this call succeeded" in errors_only["text"]
