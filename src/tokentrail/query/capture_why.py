"""Why a call's prompt and response are missing from a trace, and how to keep them next time.

The server's capture policy (``privacy/policy.py``) drops content before it is stored and leaves no
trace of that on the span, so the answer is worked out again from the policy in force now: the rule
of the span's project, route and source, whether the trace falls in the rule's sample (the same hash
the policy uses) and whether the call failed. When the rule would have kept the content, the sender
did not send it (the SDK keeps 1% of calls by default; instrumentation libraries need their content
switch). The policy may have changed since the call was recorded: the answer says "now".
"""

from __future__ import annotations

from typing import Any

from tokentrail.privacy import policy as capture
from tokentrail.storage.backend import Store

_KINDS = ("llm", "embedding", "tool")  # a tool span's content is its arguments and result


def _share(rate: float) -> str:
    pct = rate * 100
    return f"{pct:.4g}%"


def describe_rule(rule: capture.Rule) -> str:
    """A rule in words: "keeps 1% of traces, failed calls and flagged calls"."""
    if rule.rate <= 0 and not rule.errors and not rule.flagged:
        return "keeps no content (off)"
    kept = []
    if rule.rate >= 1:
        return "keeps every call"
    if rule.rate > 0:
        kept.append(f"{_share(rule.rate)} of traces (sampled)")
    if rule.errors:
        kept.append("failed calls")
    if rule.flagged:
        kept.append("calls the app flags")
    return "keeps " + (", ".join(kept[:-1]) + " and " + kept[-1] if len(kept) > 1 else kept[0])


def _scope_words(origin: str, project: str, route: str) -> str:
    return {"route": f"the rule of route {route}", "project": f"the rule of project {project}",
            "gateway": "the gateway's rule (setting gateway_capture)",
            "default": "the default rule (setting capture_policy)"}[origin]


def _change(origin: str, project: str, route: str) -> str:
    """The command that keeps every call of this span's route (or project) from now on."""
    where = f" --project {project}" + (f" --route {route}" if route else "")
    return f"tokentrail capture-policy set always{where}"


def _sender_hint(source: str, failed: bool) -> tuple[str, str]:
    """Why the sender kept the content back (the server would have stored it), and what turns it on there."""
    if source == "sdk":
        if failed:  # the SDK sends a failed call's content in every mode but off
            return ("the tokentrail SDK held this call's content back: it sends a failed call's content unless "
                    "capture is off "
                    "for the app or this route (TOKENTRAIL_CAPTURE=off, tokentrail.set_capture(\"off\", route=...)), "
                    "or the call failed before the app saw a response",
                    "TOKENTRAIL_CAPTURE=sampled (the default) or tokentrail.set_capture(\"always\", route=...)")
        return ("the tokentrail SDK held this call's content back: by default it sends the content of 1% of "
                "successful calls (and of every failure)",
                "tokentrail.init(capture=\"always\") or tokentrail.set_capture(\"always\", route=...)")
    if source == "gateway":
        return ("the gateway held this call's content back: the call was sent with X-Tokentrail-Capture: false",
                "send the calls without X-Tokentrail-Capture: false (or with X-Tokentrail-Capture: true)")
    return ("the sender did not include the content: the instrumentation's content capture is off",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true (OTel GenAI), TRACELOOP_TRACE_CONTENT=true "
            "(OpenLLMetry); OpenInference captures it unless OPENINFERENCE_HIDE_INPUTS/OUTPUTS is set")


def explain(policy: capture.Policy, project: str, span: dict[str, Any]) -> dict[str, Any]:
    """Why ``span`` (a spans row, without content) has no prompt/response, as {code, text, rule, change}."""
    route = span.get("route") or ""
    source = span.get("source") or ""
    rule, origin = policy.rule_for(project, route, "gateway" if source == "gateway" else "")
    failed = span.get("status") == "error"
    words = f"{_scope_words(origin, project, route)} {describe_rule(rule)}"
    try:
        in_sample = rule.rate >= 1 or (rule.rate > 0 and capture.sampled(bytes.fromhex(span["trace_id"]), rule.rate))
    except (KeyError, ValueError):
        in_sample = False
    if rule.rate <= 0 and not rule.errors and not rule.flagged:
        code, text = "policy-off", f"not captured: {words}"
    elif (failed and rule.errors) or in_sample:
        hint, fix = _sender_hint(source, failed)
        # the server would have stored it: the fix is at the sender, not in the server's policy
        # in that order: who held it back, then that the server was not the cause
        return {"code": "not-sent", "text": f"not sent: {hint}. The server would have kept it: {words}",
                "rule": rule.to_dict(),
                "scope": origin, "change": fix, "fix_in": "sender",
                "note": "worked out from the capture policy in force now; it may have changed since the call was "
                        "recorded"}
    elif rule.rate <= 0:
        code, text = "errors-only", f"not captured: {words}, and this call succeeded"
    else:
        code, text = "sampled-out", f"not captured (sampled out): {words}; this trace is not in the sample"
    return {"code": code, "text": text, "rule": rule.to_dict(), "scope": origin, "change": _change(origin, project, route),
            "fix_in": "server", "note": "worked out from the capture policy in force now; it may have changed since the call was recorded"}


def for_trace(store: Store, settings: Any, project: str, spans: list[dict[str, Any]],
              content: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """span id -> why, for the trace's LLM, embedding and tool spans without content."""
    missing = [s for s in spans if s.get("kind") in _KINDS and s["span_id"] not in content]
    if not missing:
        return {}
    from tokentrail.privacy.ingest import scrubber

    scrubber(store, settings, project)  # sets the policy cache up from the settings on first use
    policy = capture.cache_for(store).current()
    return {s["span_id"]: explain(policy, project, s) for s in missing}
