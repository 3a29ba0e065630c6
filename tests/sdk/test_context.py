"""Context is inherited (nesting, threads, asyncio tasks); observe builds the span tree; spans join the app's trace."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tokentrail
from tests.sdk.conftest import Init, spans
from tests.support import ServerThread

MESSAGES = [{"role": "user", "content": "hello"}]


def by_user(rows: list[dict]) -> dict[str, dict]:
    return {r["user_id"]: r for r in rows}


def test_nested_contexts_merge_and_restore(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                           project: str) -> None:
    sdk()
    with tokentrail.context(user_id="outer", route="r1", tags=["a"], metadata={"k1": "v1"}):
        with tokentrail.context(user_id="inner", tags=["b"], metadata={"k2": "v2"}):
            oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    rows = by_user(spans(server, project, 3))
    assert (rows["inner"]["route"], rows["inner"]["tags"]) == ("r1", ["a", "b"])
    assert rows["inner"]["attributes"]["tokentrail.metadata.k1"] == "v1"
    assert rows["inner"]["attributes"]["tokentrail.metadata.k2"] == "v2"
    assert (rows["outer"]["tags"], "tokentrail.metadata.k2" in rows["outer"]["attributes"]) == (["a"], False)
    assert (rows[""]["route"], rows[""]["tags"]) == ("", [])


def test_context_reaches_threads_started_inside_it(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                   project: str) -> None:
    sdk()

    def call() -> None:
        oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    outside = threading.Thread(target=call)
    with tokentrail.context(user_id="threaded", route="bg"):
        thread = threading.Thread(target=call)
        thread.start()
        with ThreadPoolExecutor(2) as pool:
            pool.submit(call).result()
        outside.start()  # created outside, but started inside: started threads inherit the context
    thread.join()
    outside.join()
    rows = spans(server, project, 3)
    assert [(r["user_id"], r["route"]) for r in rows] == [("threaded", "bg")] * 3


def test_context_is_inherited_by_asyncio_tasks_without_bleeding_between_them(
        sdk: Init, aoai: openai.AsyncOpenAI, server: ServerThread, project: str) -> None:
    sdk()

    async def handle(user: str) -> None:
        with tokentrail.context(user_id=user, session_id=f"s-{user}"):
            await asyncio.gather(*(asyncio.create_task(aoai.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES)) for _ in range(2)))

    async def main() -> None:
        await asyncio.gather(handle("ann"), handle("bob"))

    asyncio.run(main())
    rows = spans(server, project, 4)
    assert sorted((r["user_id"], r["session_id"]) for r in rows) == [
        ("ann", "s-ann"), ("ann", "s-ann"), ("bob", "s-bob"), ("bob", "s-bob")]


def test_context_as_decorator_on_sync_and_async_functions(sdk: Init, oai: openai.OpenAI,
                                                          aoai: openai.AsyncOpenAI, server: ServerThread,
                                                          project: str) -> None:
    sdk()

    @tokentrail.context(route="decorated-sync", user_id="s")
    def sync_handler() -> None:
        oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    @tokentrail.context(route="decorated-async", user_id="a")
    async def async_handler() -> None:
        await aoai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    sync_handler()
    asyncio.run(async_handler())
    rows = by_user(spans(server, project, 2))
    assert (rows["s"]["route"], rows["a"]["route"]) == ("decorated-sync", "decorated-async")


def test_observe_builds_the_tree_agent_llm_tool(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                project: str) -> None:
    sdk()

    @tokentrail.observe(kind="tool")
    def get_order(order_id: str) -> dict:
        with tokentrail.observe("retrieval", name="orders-db"):
            return {"id": order_id}

    @tokentrail.observe(kind="agent", name="support-agent")
    def agent() -> None:
        oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        get_order("o-1")

    with tokentrail.context(route="support"):
        agent()
    rows = {r["kind"]: r for r in spans(server, project, 4)}
    root, llm, tool, retrieval = rows["agent"], rows["llm"], rows["tool"], rows["retrieval"]
    assert (root["name"], root["parent_span_id"]) == ("support-agent", "")
    assert llm["parent_span_id"] == root["span_id"] and tool["parent_span_id"] == root["span_id"]
    assert retrieval["parent_span_id"] == tool["span_id"]
    assert len({r["trace_id"] for r in rows.values()}) == 1
    assert tool["name"].endswith("get_order") and tool["attributes"]["gen_ai.tool.name"] == tool["name"]
    assert all(r["route"] == "support" for r in rows.values())
    assert root["start_time"] <= llm["start_time"] and root["end_time"] >= tool["end_time"]


def test_observe_records_an_exception_and_lets_it_through(sdk: Init, server: ServerThread, project: str) -> None:
    sdk()

    @tokentrail.observe(kind="tool", name="flaky")
    async def flaky() -> None:
        raise TimeoutError("backend timed out")

    with pytest.raises(TimeoutError, match="backend timed out"):
        asyncio.run(flaky())
    (row,) = spans(server, project, 1)
    assert (row["status"], row["error_type"], row["error_message"]) == ("error", "TimeoutError", "backend timed out")


def test_llm_spans_join_the_apps_opentelemetry_trace(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                     project: str) -> None:
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("app")
    sdk()
    with tracer.start_as_current_span("POST /chat") as request_span:
        oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        with tokentrail.observe("agent", name="planner"):
            with tracer.start_as_current_span("db.query"):
                pass
    app = request_span.get_span_context()
    rows = {r["kind"]: r for r in spans(server, project, 2)}
    assert rows["llm"]["trace_id"] == format(app.trace_id, "032x")
    assert rows["llm"]["parent_span_id"] == format(app.span_id, "016x")
    assert rows["agent"]["parent_span_id"] == format(app.span_id, "016x")
    db = next(s for s in memory.get_finished_spans() if s.name == "db.query")
    assert format(db.parent.span_id, "016x") == rows["agent"]["span_id"]  # app spans nest under observed steps


def test_app_spans_option_exports_the_apps_own_spans(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                     project: str) -> None:
    provider = TracerProvider()  # the app's provider (True would use the global one)
    sdk(app_spans=provider)
    with provider.get_tracer("app").start_as_current_span("POST /chat") as request_span:
        oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    rows = {r["kind"]: r for r in spans(server, project, 2)}
    assert rows["other"]["name"] == "POST /chat"
    assert rows["llm"]["parent_span_id"] == rows["other"]["span_id"] == format(
        request_span.get_span_context().span_id, "016x")


def test_observe_a_generator_spans_its_iteration(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                  project: str) -> None:
    sdk(capture="always")

    @tokentrail.observe(kind="chain", name="answer-stream")
    def answer(n: int):
        for i in range(n):
            if i == 1:  # inside the generator's body: a child of its span
                oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user="inside")
            yield f"part{i} "

    chunks = []
    for chunk in answer(3):
        chunks.append(chunk)
        if len(chunks) == 2:  # the consumer's own call between items: not a child of the generator's span
            oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user="outside")
    assert chunks == ["part0 ", "part1 ", "part2 "]
    rows = spans(server, project, 3)
    step = next(r for r in rows if r["kind"] == "chain")
    inside = next(r for r in rows if r["kind"] == "llm" and r["parent_span_id"] == step["span_id"])
    outside = [r for r in rows if r["kind"] == "llm" and r["span_id"] != inside["span_id"]]
    assert len(outside) == 1 and outside[0]["parent_span_id"] != step["span_id"]
    assert step["status"] == "ok" and step["end_time"] >= inside["end_time"]
    content = server.client.get(f"/api/traces/{step['trace_id']}", params={"project": project}).json()["content"]
    assert content[step["span_id"]]["output"] == "part0 part1 part2 "


def test_observe_a_generator_closed_early_or_failing(sdk: Init, server: ServerThread, project: str) -> None:
    sdk()

    @tokentrail.observe(kind="tool", name="pages")
    def pages():
        yield 1
        yield 2
        raise ValueError("page 3 missing")

    for _page in pages():
        break  # closed after one item: an ok span
    with pytest.raises(ValueError, match="page 3 missing"):
        list(pages())
    rows = sorted(spans(server, project, 2), key=lambda r: r["status"])
    assert [r["status"] for r in rows] == ["error", "ok"]
    assert rows[0]["error_type"] == "ValueError"


def test_observe_an_async_generator(sdk: Init, aoai: openai.AsyncOpenAI, server: ServerThread, project: str) -> None:
    sdk()

    @tokentrail.observe(kind="agent", name="async-stream")
    async def agent():
        yield "a"
        await aoai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        yield "b"

    async def consume() -> list[str]:
        return [x async for x in agent()]

    assert asyncio.run(consume()) == ["a", "b"]
    rows = {r["kind"]: r for r in spans(server, project, 2)}
    assert rows["llm"]["parent_span_id"] == rows["agent"]["span_id"]
    assert rows["agent"]["end_time"] >= rows["llm"]["end_time"]
