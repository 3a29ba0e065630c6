"""The filter bar's choices: each list holds the values of calls matching every OTHER filter in force, from
the rollups over long ranges and from the spans under a user, customer or session filter."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import ServerThread, running_server

PROJECT = "choices"
# (route, model, environment, release, user, customer, error type) of each call sent
CALLS = [
    ("checkout", "gpt-4o-mini", "production", "1.0", "ann", "acme", ""),
    ("checkout", "gpt-4o", "production", "1.1", "ann", "acme", "RateLimitError"),
    ("search", "claude-3-5-haiku", "staging", "1.1", "bob", "globex", ""),
    ("search", "gpt-4o-mini", "production", "1.0", "bob", "globex", "APITimeoutError"),
    ("support", "claude-sonnet-4", "production", "1.2", "cy", "acme", ""),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with running_server(tmp_path_factory.mktemp("choices")) as s:
        now = datetime.now(UTC)
        items = []
        for i, (route, model, env, release, user, customer, error) in enumerate(CALLS):
            for days_ago in (0, 3):  # inside the last day, and only in longer ranges
                items.append({"trace_id": secrets.token_hex(16), "span_id": secrets.token_hex(8), "model": model,
                              "provider": _provider(model), "route": route, "environment": env, "release": release, "user_id": user,
                              "customer": customer, "input_tokens": 10, "output_tokens": 5,
                              **({"status": "error", "error_type": error} if error else {}),
                              "timestamp": (now - timedelta(days=days_ago, minutes=i + 1)).isoformat()})
        r = s.client.post("/api/ingest/batch", json=items, headers={"x-tokentrail-project": PROJECT})
        assert r.status_code == 200 and r.json()["accepted"] == len(items), r.text
        assert s.runtime.settle()
        yield s


def _provider(model: str) -> str:
    return "anthropic" if model.startswith("claude") else "openai"


def _want(**equals: str) -> dict[str, list[str]]:
    """Each list from the calls we sent: those matching every filter but the list's own."""
    names = {"route": 0, "model": 1, "environment": 2, "release": 3, "user": 4, "customer": 5, "error_type": 6}
    rows = [(*c, _provider(c[1])) for c in CALLS]
    names["provider"] = 7
    out = {}
    for listed in ("route", "model", "provider", "environment", "release", "error_type"):
        kept = [c for c in rows if all(c[names[k]] == v for k, v in equals.items() if k != listed)]
        out[listed] = sorted({c[names[listed]] for c in kept} - {""})
    return out


@pytest.mark.parametrize("range_", ["24h", "7d"])
@pytest.mark.parametrize("equals", [{}, {"route": "checkout"}, {"model": "gpt-4o-mini"},
                                    {"route": "search", "environment": "production"}, {"user": "ann"},
                                    {"customer": "acme", "release": "1.2"}, {"error_type": "RateLimitError"}])
def test_each_list_is_narrowed_by_the_other_filters(server: ServerThread, equals: dict[str, str], range_: str) -> None:
    r = server.client.get("/api/filters/values", params={"project": PROJECT, "range": range_, **equals})
    assert r.status_code == 200, r.text
    got = r.json()
    want = _want(**equals)
    assert {k: got[k] for k in want} == want
