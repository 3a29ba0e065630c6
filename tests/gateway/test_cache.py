"""The opt-in response cache: through the gateway, and the cache itself."""

from __future__ import annotations

from tests.fake_llm import FakeLLM
from tests.gateway.conftest import openai_via, spans
from tests.support import ServerThread
from tokentrail.gateway.cache import ResponseCache

HELLO = [{"role": "user", "content": "Hello there, how are you"}]
CACHE = {"X-Tokentrail-Cache": "true"}


def test_identical_call_is_served_from_cache_and_recorded_as_a_free_hit(
    server: ServerThread, fake_llm: FakeLLM, project: str
) -> None:
    client = openai_via(server, project, **CACHE)
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
    second = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
    assert (first.headers["x-tokentrail-cache"], second.headers["x-tokentrail-cache"]) == ("miss", "hit")
    assert second.content == first.content
    assert second.headers["x-tokentrail-request-id"] != first.headers["x-tokentrail-request-id"]
    assert len(fake_llm.requests_to("/v1/chat/completions")) == 1
    miss, hit = spans(server, project, 2)
    assert (miss["cache_hit"], hit["cache_hit"]) == (False, True)
    assert miss["total_cost"] > 0
    assert (hit["input_tokens"], hit["output_tokens"], hit["total_cost"]) == (0, 0, 0)
    assert hit["attributes"]["tokentrail.cache.input_tokens"] == str(miss["input_tokens"])
    assert hit["attributes"]["tokentrail.cache.output_tokens"] == str(miss["output_tokens"])
    assert hit["span_id"] == second.headers["x-tokentrail-request-id"]


def test_streams_are_cached_whole(server: ServerThread, fake_llm: FakeLLM, project: str) -> None:
    client = openai_via(server, project, **CACHE)
    kwargs = dict(
        model="gpt-4o-mini+chunks:3", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    texts = []
    for _ in range(2):
        with client.chat.completions.with_streaming_response.create(**kwargs) as r:
            texts.append(b"".join(r.iter_bytes()))
    assert texts[0] == texts[1]
    assert len(fake_llm.requests_to("/v1/chat/completions")) == 1
    hit = spans(server, project, 2)[1]
    assert hit["cache_hit"] and hit["streamed"] and hit["ttft_ms"] is not None


def test_without_the_header_nothing_is_cached(server: ServerThread, fake_llm: FakeLLM, project: str) -> None:
    client = openai_via(server, project)
    for _ in range(2):
        r = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
        assert "x-tokentrail-cache" not in r.headers
    assert len(fake_llm.requests_to("/v1/chat/completions")) == 2


def test_errors_and_other_keys_are_not_served_from_cache(
    server: ServerThread, fake_llm: FakeLLM, project: str
) -> None:
    client = openai_via(server, project, **CACHE)
    client.with_options(api_key="sk-other").chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    r = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
    assert r.headers["x-tokentrail-cache"] == "miss"
    for _ in range(2):
        try:
            client.chat.completions.create(model="gpt-4o-mini+error-500", messages=HELLO)
        except Exception:
            pass
    assert len(fake_llm.requests_to("/v1/chat/completions")) == 4


def _put(cache: ResponseCache, key: bytes, size: int, ttl: float | None = None) -> bool:
    return cache.put(key, [(b"content-type", b"application/json")], b"x" * size, False, "", ttl)


def test_cache_entries_expire() -> None:
    now = [100.0]
    cache = ResponseCache(max_bytes=1 << 20, ttl=5, clock=lambda: now[0])
    assert _put(cache, b"k", 10) and _put(cache, b"short", 10, ttl=1)
    now[0] += 2
    assert cache.get(b"k") is not None and cache.get(b"short") is None
    now[0] += 4
    assert cache.get(b"k") is None and len(cache) == 0 and cache.bytes == 0


def test_cache_stays_under_its_size_evicting_least_recently_used() -> None:
    cache = ResponseCache(max_bytes=10_000, ttl=60)
    for i in range(10):
        assert _put(cache, bytes([i]), 1_500)
        assert cache.bytes <= 10_000
    assert cache.get(bytes([9])) is not None and cache.get(bytes([0])) is None
    assert not _put(cache, b"big", 5_000)  # over a quarter of the cache: not kept


def test_cache_key_separates_its_parts() -> None:
    assert ResponseCache.key("ab", "c") != ResponseCache.key("a", "bc")
