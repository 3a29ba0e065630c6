"""A tag filter over a long range reads the rollups, which keep each call's tag set: a call counts once
whatever its tags (unfiltered totals), and under each of its tags (m017, for stores made before:
tests/storage/test_migration_tags.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import ServerThread, running_server

P = "tag-rollups"
# (tags, calls, input tokens each)
SENT = [(["canary"], 3, 100), (["canary", "eu"], 2, 200), (["eu"], 4, 300), ([], 5, 400)]


def _calls(start: datetime) -> list[dict]:
    out, i = [], 0
    for tags, n, tokens in SENT:
        for _ in range(n):
            out.append({"model": "gpt-4o-mini", "input_tokens": tokens, "output_tokens": 1, "tags": tags,
                        "route": "r", "start_time": (start + timedelta(minutes=i)).isoformat()})
            i += 1
    return out


def expected(tag: str | None) -> tuple[int, int]:
    picked = [(n, tokens) for tags, n, tokens in SENT if tag is None or tag in tags]
    return sum(n for n, _ in picked), sum(n * t for n, t in picked)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    start = (datetime.now(UTC) - timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    with running_server(tmp_path_factory.mktemp("tag-rollups")) as s:
        r = s.client.post("/api/ingest/batch", json=_calls(start), headers={"x-tokentrail-project": P})
        assert r.status_code == 200 and r.json()["accepted"] == sum(n for _, n, _ in SENT), r.text
        s.flush()
        yield s


@pytest.mark.parametrize("tag", [None, "canary", "eu", "absent"])
@pytest.mark.parametrize("rng", ["7d", "30d"])  # the hour and the day rollups
def test_a_tag_filter_over_days_reads_the_rollups_and_counts_each_call_once(server: ServerThread, tag: str | None,
                                                                            rng: str) -> None:
    params = {"project": P, "range": rng, **({"tag": tag} if tag else {})}
    s = server.client.get("/api/metrics/summary", params=params).json()
    assert s["source"] == "rollup"
    assert (s["requests"], s["input_tokens"]) == expected(tag)
    daily = server.client.get("/api/cost", params=params).json()["daily"]
    assert sum(d["requests"] for d in daily) == expected(tag)[0]
