"""Model-name normalization: the price key of a model name, in Python and as ClickHouse SQL.

Spans carry whatever model string the app or provider reported ("openai/gpt-4o-mini-2024-07-18",
"models/gemini-1.5-pro", "us.anthropic.claude-3-5-sonnet-20241022-v2:0"). Prices are keyed by a
normalized form of that string, and the same normalization runs inside ClickHouse at insert time,
so `normalize_model` and `model_key_sql` must agree exactly (a test checks this in chDB).

Every step is one regular expression written in the subset shared by Python `re` and RE2.
"""

from __future__ import annotations

import re

# Characters stripped at both ends; Python's str.strip() default also strips Unicode spaces, ClickHouse
# cannot, so both sides use this explicit set.
_WHITESPACE = " \t\n\r\f\v"
_WHITESPACE_SQL = "' \\t\\n\\r\\f\\v'"

# (pattern, what it removes), applied in order after lowercasing.
_STEPS: tuple[tuple[str, str], ...] = (
    # "openai/gpt-4o", "models/gemini-1.5-pro", "meta-llama/Llama-3.1-8B-Instruct": keep the last part.
    (r"^.*/", "provider or path prefix"),
    # Bedrock ids and inference profiles: "anthropic.claude-...", "us.meta.llama3-...", "global.zai.glm-...".
    # Only letters may precede each dot, so "gpt-3.5-turbo" and "llama3.1-8b" are left alone.
    (r"^(?:[a-z]+\.|us-gov\.)?(?:[a-z]+|ai21)\.", "Bedrock region and vendor prefix"),
    # Bedrock model version: "-v1:0", "-v2:0", "-1:0".
    (r"-v?\d+:\d+$", "Bedrock version suffix"),
    # Snapshot dates and aliases: "-2024-07-18", "-20241022", "@20241022", "-latest", Vertex "-001".
    (r"(?:[-@](?:\d{4}-\d{2}-\d{2}|\d{8})|-latest|-00\d)$", "date or version suffix"),
)

# DOTALL: ClickHouse's regexps let '.' match a newline, Python's do not unless asked.
_COMPILED = tuple(re.compile(pattern, re.DOTALL) for pattern, _ in _STEPS)


def normalize_model(name: str) -> str:
    """Return the price key of a model name (see the module docstring for the rules)."""
    key = _COMPILED[0].sub("", name.lower(), count=1).strip(_WHITESPACE)
    for regex in _COMPILED[1:]:
        key = regex.sub("", key, count=1)
    return key


def model_key_sql(expr: str) -> str:
    """Return a ClickHouse expression computing `normalize_model` of the String expression `expr`."""
    prefix, *rest = (pattern for pattern, _ in _STEPS)
    sql = f"trimBoth(replaceRegexpOne(lowerUTF8({expr}), {_sql_literal(prefix)}, ''), {_WHITESPACE_SQL})"
    for pattern in rest:
        sql = f"replaceRegexpOne({sql}, {_sql_literal(pattern)}, '')"
    return sql


def _sql_literal(text: str) -> str:
    """Quote a constant as a ClickHouse string literal (backslash is an escape character there)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
