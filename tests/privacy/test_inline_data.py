"""Inline images, audio and files in captured content become their size (privacy/inline_data.py): the
document stays the same JSON with each payload replaced by ``[base64 omitted: N bytes]``, N the bytes the
base64 stood for; short values, ordinary text and other keys are left alone."""

from __future__ import annotations

import base64
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokentrail.privacy.inline_data import MIN_CHARS, omit


def b64(n: int) -> str:
    return base64.b64encode(os.urandom(n)).decode()


def marked(n: int) -> str:
    return f"[base64 omitted: {n} bytes]"


@pytest.mark.parametrize("n", [300, 301, 302, 250_000])  # every padding
def test_each_provider_shape_keeps_its_json_with_the_size(n: int) -> None:
    img, audio, pdf, gen = b64(n), b64(n + 1), b64(n + 2), b64(n)
    doc = [
        {"role": "user", "content": [
            {"type": "text", "text": "before"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{img}", "detail": "low"}},
            {"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}},
            {"type": "file", "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{pdf}"}},
            {"type": "text", "text": "after"}]},
        {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/jpeg",
                                                                  "data": img}}]},
        {"data": [{"b64_json": gen}]},
    ]
    for text in (json.dumps(doc), json.dumps(doc, separators=(",", ":")), json.dumps(doc).replace("/", "\\/")):
        out = json.loads(omit(text))
        part = out[0]["content"]
        assert part[1]["image_url"] == {"url": f"data:image/png;base64,{marked(n)}", "detail": "low"}
        assert part[2]["input_audio"] == {"data": marked(n + 1), "format": "wav"}
        assert part[3]["file"]["file_data"] == f"data:application/pdf;base64,{marked(n + 2)}"
        assert (part[0]["text"], part[4]["text"]) == ("before", "after")
        assert out[1]["content"][0]["source"]["data"] == marked(n)
        assert out[2]["data"][0]["b64_json"] == marked(n)


def test_short_payloads_text_and_other_keys_are_kept() -> None:
    small = b64(MIN_CHARS * 3 // 4 - 3)
    words = "lorem ipsum " * 100
    doc = {"data": small, "text": b64(4000), "url": f"data:image/png;base64,{small}", "data2": words,
           "messages": [{"role": "user", "content": "x" * 5000}]}
    text = json.dumps(doc)
    assert omit(text) == text
    assert omit("plain prompt without json") == "plain prompt without json"


@given(st.text(max_size=2000))
def test_any_text_stays_text_and_json_stays_json(s: str) -> None:
    out = omit(s)
    assert isinstance(out, str)
    doc = json.dumps({"data": s, "other": s})
    assert isinstance(json.loads(omit(doc)), dict)
