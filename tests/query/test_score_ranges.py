"""The scores of a time range (the quality page's feedback, scores over time and low scores; the traces list's
score names): each score's newest version, following the range and a user, customer or session filter (the
scores of that person's traces), read by grouping the range (short ranges) or with FINAL (long ones): the
same answers either way. Expected values are the scores sent, never the server's output."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import ServerThread, running_server
from tokentrail.query import scores

P = "score-ranges"
NOW = datetime.now(UTC).replace(microsecond=0)
T_U1_RECENT, T_U1_OLD, T_U2 = "a1" * 16, "b2" * 16, "c3" * 16
# trace -> (user, customer, session, started)
TRACES = {T_U1_RECENT: ("u1", "c1", "s1", NOW - timedelta(hours=2)),
          T_U1_OLD: ("u1", "c1", "s0", NOW - timedelta(days=10)),
          T_U2: ("u2", "c2", "s2", NOW - timedelta(hours=3))}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    calls = [{"trace_id": t, "model": "gpt-4o-mini", "input_tokens": 10, "output_tokens": 5, "route": "chat",
              "user_id": u, "customer": c, "session_id": s, "start_time": at.isoformat()}
             for t, (u, c, s, at) in TRACES.items()]

    def score(trace: str, score_id: str, name: str, value: float, at: datetime, label: str = "") -> dict:
        return {"trace_id": trace, "score_id": score_id, "name": name, "value": value, "label": label,
                "timestamp": at.isoformat()}

    first = [score(T_U1_RECENT, "thumb-1", "thumbs", 0, NOW - timedelta(hours=1), "down"),
             score(T_U1_RECENT, "help-1", "helpfulness", 0.2, NOW - timedelta(hours=1)),
             score(T_U2, "thumb-2", "thumbs", 0, NOW - timedelta(hours=2), "down"),
             score(T_U1_OLD, "thumb-old", "thumbs", 1, NOW - timedelta(days=10) + timedelta(minutes=5), "up"),
             score(T_U1_OLD, "thumb-old2", "thumbs", 0, NOW - timedelta(days=10) + timedelta(minutes=9), "down"),
             # an annotation made today of the ten-day-old trace
             score(T_U1_OLD, "review-old", "helpfulness", 0.9, NOW - timedelta(minutes=30))]
    # the user changed their mind: thumb-1 sent again (a newer version), now up
    second = [score(T_U1_RECENT, "thumb-1", "thumbs", 1, NOW - timedelta(hours=1), "up")]
    with running_server(tmp_path_factory.mktemp("score-ranges")) as s:
        r = s.client.post("/api/ingest/batch", json=calls, headers={"x-tokentrail-project": P})
        assert r.status_code == 200 and r.json().get("rejected", 0) == 0, r.text
        s.flush()
        for batch in (first, second):
            r = s.client.post("/api/scores", json=batch, headers={"x-tokentrail-project": P})
            assert r.status_code == 200, r.text
            time.sleep(0.01)  # the second version's ingested_at is later
        yield s


def quality(server: ServerThread, **params: object) -> dict:
    r = server.client.get("/api/quality", params={"project": P, **params})
    assert r.status_code == 200, r.text
    return r.json()


def by_name(q: dict) -> dict[str, tuple[int, float | None]]:
    return {row["name"]: (row["count"], row["mean"]) for row in q["feedback"]}


def test_each_score_counts_once_as_its_newest_version(server: ServerThread) -> None:
    q = quality(server, range="6h")
    assert by_name(q) == {"thumbs": (2, 0.5), "helpfulness": (2, pytest.approx((0.2 + 0.9) / 2))}
    assert q["scores_filtered_by"] == []
    low = [(r["trace_id"], r["name"], r["value"]) for r in q["low_scores"]["rows"]]
    assert sorted(low) == sorted([(T_U2, "thumbs", 0), (T_U1_RECENT, "helpfulness", 0.2)])


def test_a_person_filter_keeps_that_persons_traces_scores(server: ServerThread) -> None:
    q = quality(server, range="6h", user="u1")
    # thumb-1 (now up), help-1, and today's review of u1's old trace: its spans are 10 days old, outside the
    # range and the day before it, so it is not among the user's traces of this range
    assert by_name(q) == {"thumbs": (1, 1.0), "helpfulness": (1, 0.2)}
    assert q["scores_filtered_by"] == ["user"]
    assert [(r["trace_id"], r["name"]) for r in q["low_scores"]["rows"]] == [(T_U1_RECENT, "helpfulness")]
    assert by_name(quality(server, range="6h", customer="c2")) == {"thumbs": (1, 0.0)}
    assert by_name(quality(server, range="6h", session="s1")) == {"thumbs": (1, 1.0), "helpfulness": (1, 0.2)}
    assert quality(server, range="6h", session="nobody")["feedback"] == []
    # with a person filter every other filter narrows that person's traces too
    both = quality(server, range="6h", user="u1", route="chat")
    assert (by_name(both), both["scores_filtered_by"]) == (by_name(q), ["route", "user"])
    assert quality(server, range="6h", user="u1", route="elsewhere")["feedback"] == []


def test_a_long_range_reads_with_final_and_agrees(server: ServerThread) -> None:
    """Beyond 8 days the project's scores are merged with FINAL; a person's are grouped (few whatever the range)."""
    q = quality(server, range="30d", user="u1")
    assert q["scores_filtered_by"] == ["user"]
    assert by_name(q) == {"thumbs": (3, pytest.approx(2 / 3, abs=1e-4)),
                          "helpfulness": (2, pytest.approx((0.2 + 0.9) / 2))}
    assert by_name(quality(server, range="30d")) == {"thumbs": (4, 0.5),
                                                     "helpfulness": (2, pytest.approx((0.2 + 0.9) / 2))}


def test_low_scores_are_the_newest_of_the_whole_range(server: ServerThread) -> None:
    """The list looks in the last day first: a range whose low scores are older still finds them all, newest
    first, with the range's total; the highest value of a name is the project's under a person filter."""
    q = quality(server, range="30d")
    assert [(r["score_id"], r["trace_id"]) for r in q["low_scores"]["rows"]] == [
        ("help-1", T_U1_RECENT), ("thumb-2", T_U2), ("thumb-old2", T_U1_OLD)]
    assert q["low_scores"]["total"] == 3
    mine = quality(server, range="30d", user="u1")["low_scores"]
    assert ([r["score_id"] for r in mine["rows"]], mine["total"]) == (["help-1", "thumb-old2"], 2)
    r = server.client.get("/api/quality", params={"project": P, "range": "30d", "user": "u2"})
    assert r.json()["low_scores"] == {"rows": [{**r.json()["low_scores"]["rows"][0]}], "total": 1}
    assert r.json()["low_scores"]["rows"][0]["score_id"] == "thumb-2"


@pytest.mark.parametrize("filters", [{}, {"user": "u1"}, {"route": "chat"}], ids=["none", "user", "route"])
def test_grouped_and_final_reads_give_the_same_answers(server: ServerThread, filters: dict,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    grouped = quality(server, range="7d", **filters)
    monkeypatch.setattr(scores, "GROUPED_MAX_DAYS", 0.0)
    final = quality(server, range="7d", **filters)
    for key in ("feedback", "low_scores", "scores_over_time"):
        assert grouped[key] == final[key], key


def test_route_and_model_filters_leave_the_scores_as_they_are(server: ServerThread) -> None:
    q = quality(server, range="6h", route="chat", model="gpt-4o-mini")
    assert q["scores_filtered_by"] == []
    assert by_name(q) == by_name(quality(server, range="6h"))


def test_score_names_follow_the_range(server: ServerThread) -> None:
    r = server.client.get("/api/scores/names", params={"project": P, "range": "6h"})
    assert r.status_code == 200, r.text
    names = {n["name"]: n["scores"] for n in r.json()["names"]}
    assert names == {"thumbs": 2, "helpfulness": 2}


@pytest.mark.parametrize("rng", ["6h", "30d"])
@pytest.mark.parametrize("equals", [{}, {"user": "u1"}, {"user": "u2"}], ids=["all", "u1", "u2"])
def test_low_scores_alone_agree_with_the_quality_pages_one_pass(server: ServerThread, rng: str,
                                                                equals: dict) -> None:
    """The quality page gives the low-score list each name's highest value and total from its one pass over the
    scores (under a person filter: the person's scores, each name's highest value the project's); the list asked
    alone (no such figures) reads them itself: the same answer."""
    from tokentrail.query import quality
    from tokentrail.query.filters import Filters

    hours = {"6h": 6, "30d": 720}[rng]
    f = Filters(project=P, since=datetime.now(UTC) - timedelta(hours=hours), equals=equals)
    alone = quality.low_scores(server.runtime.store, f)
    _, _, lows = quality.score_panels(server.runtime.store, f, 3600)
    assert sum(n["low"] for n in lows) == alone["total"]
    assert quality.low_scores(server.runtime.store, f, lows=lows) == alone
    if equals == {"user": "u2"}:  # u2 gave 0 of a 0/1 thumb: low on the project's scale
        assert {n["name"]: (n["top"], n["low"]) for n in lows} == {"thumbs": (1.0, 1)}
