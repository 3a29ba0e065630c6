"""Run SQL in the real embedded ClickHouse (chDB) and read the rows back."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import chdb
import pytest

Query = Callable[..., list[dict[str, Any]]]


def _query(sql: str, **params: str) -> list[dict[str, Any]]:
    # Query parameters are read in ClickHouse's escaped format: a backslash must be doubled.
    escaped = {key: value.replace("\\", "\\\\") for key, value in params.items()}
    result = chdb.query(sql, "JSONEachRow", params=escaped)
    return [json.loads(line) for line in result.bytes().decode().splitlines()]


@pytest.fixture
def clickhouse() -> Query:
    """`clickhouse(sql, **string_params)` -> rows as dicts; bind a JSON list with {name:String}."""
    return _query
