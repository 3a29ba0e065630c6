"""feedback() links scores to calls and traces; validate() records the schema result on the LLM span."""

from __future__ import annotations

import json

import openai
from pydantic import BaseModel

import tokentrail
from tests.sdk.conftest import Init, one, spans
from tests.support import ServerThread, wait_for

MESSAGES = [{"role": "user", "content": "Give me a city as JSON"}]


class City(BaseModel):
    name: str
    population: int


def scores(server: ServerThread, project: str, count: int) -> list[dict]:
    assert tokentrail.flush(30)

    def rows() -> list[dict] | None:
        found = server.query("SELECT * FROM tokentrail.scores FINAL WHERE project = {p:String} ORDER BY timestamp",
                             {"p": project})
        return found if len(found) >= count else None

    return wait_for(rows, 30)


def test_feedback_is_linked_to_the_last_call_of_the_context(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                            project: str) -> None:
    sdk()
    with tokentrail.context(user_id="u-5"):
        oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        score_id = tokentrail.feedback(1, name="thumbs", comment="great")
    row = one(server, project)
    (score,) = scores(server, project, 1)
    assert score["score_id"] == score_id
    assert (score["trace_id"], score["span_id"]) == (row["trace_id"], row["span_id"])
    assert (score["name"], score["value"], score["comment"], score["user_id"], score["source"]) == (
        "thumbs", 1.0, "great", "u-5", "feedback")


def test_feedback_later_from_another_process_needs_only_the_ids(sdk: Init, oai: openai.OpenAI,
                                                                server: ServerThread, project: str) -> None:
    sdk()
    oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    call = tokentrail.last_call()
    ids = {"trace_id": call.trace_id, "request_id": call.request_id}  # e.g. sent to the browser
    tokentrail.shutdown()
    sdk()  # "another process": nothing of the first one is left but the ids
    tokentrail.feedback(name="resolved", label="yes", **ids)
    tokentrail.feedback(0.2, name="trace-quality", trace_id=ids["trace_id"], source="eval")
    got = {s["name"]: s for s in scores(server, project, 2)}
    assert (got["resolved"]["label"], got["resolved"]["span_id"]) == ("yes", call.span_id)
    assert (got["trace-quality"]["value"], got["trace-quality"]["span_id"]) == (0.2, "")
    assert got["trace-quality"]["trace_id"] == call.trace_id


def test_feedback_with_nothing_to_link_returns_none(sdk: Init) -> None:
    sdk()
    assert tokentrail.feedback(1) is None


def test_validate_with_a_pydantic_model_marks_the_llm_span(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                           project: str) -> None:
    sdk()
    reply = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    result = tokentrail.validate(reply, City)  # the fake's reply is plain text: invalid
    assert not result.valid and result.errors
    tokentrail.flush()
    row = one(server, project)
    assert row["schema_valid"] is False
    assert "not valid JSON" in row["attributes"]["tokentrail.schema_errors"] or "json" in row["attributes"][
        "tokentrail.schema_errors"].lower()


def test_validate_with_a_json_schema_on_an_echoed_json_reply(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                             project: str) -> None:
    sdk()
    payload = json.dumps({"name": "Paris", "population": 2100000})
    reply = oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": payload}],
                                        extra_headers={"X-Fake-Scenario": "echo"})
    schema = {"type": "object", "required": ["name", "population"],
              "properties": {"name": {"type": "string"}, "population": {"type": "integer"}}}
    result = tokentrail.validate(reply, schema)
    assert result.valid and result.value == {"name": "Paris", "population": 2100000}
    assert tokentrail.validate(reply, City).value == City(name="Paris", population=2100000)
    assert one(server, project)["schema_valid"] is True


def test_validate_inside_an_observed_step_without_llm_call(sdk: Init, server: ServerThread, project: str) -> None:
    sdk()
    with tokentrail.observe("chain", name="parse"):
        result = tokentrail.validate('{"name": "Oslo"}', City)
    assert result.errors == ["population: Field required"]
    (row,) = spans(server, project, 1)
    assert (row["kind"], row["schema_valid"]) == ("chain", False)
