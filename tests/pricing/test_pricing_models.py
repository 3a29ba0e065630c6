"""normalize_model gives the price key of a model name, and model_key_sql does the same inside ClickHouse."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tokentrail.pricing import model_key_sql, normalize_model

EXPECTED = [
    ("gpt-4o", "gpt-4o"),
    ("  GPT-4o-Mini-2024-07-18 \n", "gpt-4o-mini"),
    ("openai/gpt-4o", "gpt-4o"),
    ("models/gemini-1.5-pro", "gemini-1.5-pro"),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct"),
    ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
    ("claude-3-5-haiku@20241022", "claude-3-5-haiku"),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
    ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "claude-3-7-sonnet"),
    ("meta.llama3-1-70b-instruct-v1:0", "llama3-1-70b-instruct"),
    ("gemini-2.0-flash-001", "gemini-2.0-flash"),
    ("publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro"),
    # Left alone: version numbers that are part of the name, not a snapshot suffix.
    ("gpt-3.5-turbo", "gpt-3.5-turbo"),
    ("llama3.1-8b", "llama3.1-8b"),
    ("deepseek-v3", "deepseek-v3"),
    ("moonshot-v1-8k", "moonshot-v1-8k"),
    ("mistral-large-2411", "mistral-large-2411"),
]

# Everything above plus awkward strings: both implementations must agree on all of them.
AGREEMENT = [name for name, _ in EXPECTED] + [
    "o4-mini-2025-04-16",
    "openai.gpt-oss-120b-1:0",
    "global.zai.glm-5.3",
    "accounts/fireworks/models/llama-v3p1-8b-instruct",
    "gpt-4o:extended",
    "ft:gpt-4o-mini-2024-07-18:my-org::abc123",
    "gemini-2.5-flash-preview-05-20",
    "gpt-4-0613",
    "",
    "/",
    "a/b/c/",
    "-latest",
    "Ünïcode-Model",
    "tab\tname\r\n",
    "line\nbreak/then-model",
    "it's-a-model",
    "back\\slash-20240101",
]


@pytest.mark.parametrize(("name", "key"), EXPECTED)
def test_normalize_model_gives_the_price_key(name: str, key: str) -> None:
    assert normalize_model(name) == key


def test_dated_variants_map_to_the_base_model() -> None:
    assert normalize_model("gpt-4o-mini-2024-07-18") == "gpt-4o-mini"
    assert normalize_model("claude-3-5-sonnet-20241022") == "claude-3-5-sonnet"


def test_normalize_model_is_idempotent() -> None:
    for name in AGREEMENT:
        assert normalize_model(normalize_model(name)) == normalize_model(name), name


def test_model_key_sql_agrees_with_normalize_model_in_clickhouse(
    clickhouse: Callable[..., list[dict[str, Any]]],
) -> None:
    names = "JSONExtract({names:String}, 'Array(String)')"
    sql = f"SELECT name, {model_key_sql('name')} AS key FROM (SELECT arrayJoin({names}) AS name)"
    rows = clickhouse(sql, names=json.dumps(AGREEMENT))
    assert [row["name"] for row in rows] == AGREEMENT
    assert {row["name"]: row["key"] for row in rows} == {name: normalize_model(name) for name in AGREEMENT}
