"""The token estimator stays near a real BPE count (references: OpenAI's o200k_base vocabulary)."""

from __future__ import annotations

import pytest

from tokentrail.gateway.tokens import estimate_tokens

# (text, tokens in o200k_base), counted once with an exact BPE tokenizer
SAMPLES = {
    "prose": (
        "Teams that run LLM features in production want to see the cost, latency, errors and quality of "
        "every LLM call without per-token vendor fees and without sending prompts to a third party.",
        38,
    ),
    "code": (
        'def url(self, path: str, query: bytes = b"") -> str:\n    base = self.base_url\n'
        '    if base.endswith("/v1") and (path == "/v1" or path.startswith("/v1/")):\n'
        '        path = path[3:]\n    url = base + path\n'
        '    return url + "?" + query.decode("latin-1") if query else url\n',
        83,
    ),
    "json": (
        '{"model": "gpt-4o-mini", "messages": [{"role": "system", '
        '"content": "You are a helpful assistant."}, '
        '{"role": "user", "content": "What is the weather like in Paris today?"}], '
        '"temperature": 0.2}',
        59,
    ),
    "german": (
        "Die Würde des Menschen ist unantastbar. Sie zu achten und zu schützen ist Verpflichtung aller "
        "staatlichen Gewalt.",
        25,
    ),
    "chinese": ("人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。", 35),
}


@pytest.mark.parametrize("name", SAMPLES)
def test_estimate_is_within_20_percent_of_a_bpe_count(name: str) -> None:
    text, real = SAMPLES[name]
    assert abs(estimate_tokens(text) - real) <= 0.2 * real


def test_empty_text_is_zero_tokens() -> None:
    assert estimate_tokens("") == 0 and estimate_tokens("   \n") == 0
