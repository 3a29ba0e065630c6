"""The snippet shown beside a text search's hit: the readable text of a captured prompt (a chat document's
message contents, not its JSON), cut around the first searched word at word boundaries, every searched word
marked, whatever the characters around it."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tokentrail.privacy import search_index
from tokentrail.privacy.search import SNIPPET_CHARS, readable, snippet


def joined(cut: dict) -> str:
    return "".join(p["text"] for p in cut["parts"])


def test_a_chat_document_reads_as_its_messages() -> None:
    doc = [{"role": "system", "content": "You are a courier's assistant."},
           {"role": "user", "content": [{"type": "text", "text": "Where is parcel 7741?"},
                                        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 900}}]},
           {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                                                 "function": {"name": "track", "arguments": "{\"id\": \"7741\"}"}}]}]
    text = readable(json.dumps(doc))
    assert text == "You are a courier's assistant. · Where is parcel 7741? · [data] · track · {\"id\": \"7741\"}"
    assert readable("plain words, not JSON") == "plain words, not JSON"
    assert readable("{not json") == "{not json"


def test_a_long_text_is_cut_around_the_first_match_at_word_boundaries() -> None:
    before = " ".join(f"w{i}" for i in range(200))
    after = " ".join(f"z{i}" for i in range(200))
    text = f"{before} the Parcel is late {after} parcel again"
    cut = snippet(text, ["parcel"])
    body = joined(cut)
    assert cut["before"] and cut["after"] and len(body) <= SNIPPET_CHARS
    assert body in text and body.split(" ")[0] in before.split(" ")  # starts at a whole word
    assert [p["text"] for p in cut["parts"] if p["mark"]] == ["Parcel"]  # the later one is cut off
    assert snippet(text, ["absent"]) is None


words = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@given(st.lists(words, min_size=1, max_size=40), st.integers(0, 39))
def test_the_marked_runs_are_the_searched_word_and_the_runs_are_the_text(parts: list[str], pick: int) -> None:
    text = " ".join(parts)
    indexed = search_index.words(text)
    if not indexed:
        return
    word = indexed[pick % len(indexed)]
    cut = snippet(text, [word])
    assert cut is not None
    assert joined(cut) in text
    assert cut["parts"] and all(p["text"] for p in cut["parts"])
    assert all(p["text"].lower() == word for p in cut["parts"] if p["mark"])
