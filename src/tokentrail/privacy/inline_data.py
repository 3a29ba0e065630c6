"""Inline binary data in captured content, replaced by its size before the content is stored or cut.

A prompt with an image, audio or a PDF carries it as base64 inside the JSON (a ``data:`` URL in OpenAI's
``image_url``, Anthropic's ``source.data``, ``input_audio.data``, ``file_data``, an image generation's
``b64_json``): a 200 KB photo is 270 KB of text that nobody reads and that, cut at the content size limit,
takes the rest of the conversation with it and leaves JSON that no longer parses. Each such payload (at
least ``MIN_CHARS`` base64 characters) becomes ``[base64 omitted: N bytes]`` in place: the document stays
valid JSON, the conversation view shows the image as a placeholder with its type and size, and the words
around it survive the cut. Shared by the SDK (before redaction: nothing to scan) and the gateway.
"""

from __future__ import annotations

import re

MIN_CHARS = 256
MARK = "[base64 omitted: {} bytes]"
_B64 = r"(?:[A-Za-z0-9+]|\\?/|\\n){" + str(MIN_CHARS) + r",}={0,2}"
# a data: URL's payload, wherever it is (image_url.url, input_image, a file's data URL)
_DATA_URL = re.compile(r"(data:[\w.+-]+\\?/[\w.+-]+(?:;[\w.+-]+=[\w.+-]+)*;base64,)(" + _B64 + ")")
# a bare base64 value under the keys providers use for inline media
_DATA_KEY = re.compile(r'("(?:data|file_data|b64_json|image_base64|audio|bytes)"\s*:\s*")(' + _B64 + r')(?=")')


def _size(b64: str) -> int:
    chars = len(b64.replace("\\n", "").replace("\\", "").rstrip("="))
    return chars * 3 // 4


def _mark(m: re.Match[str]) -> str:
    return m.group(1) + MARK.format(_size(m.group(2)))


def omit(text: str) -> str:
    """``text`` with every inline base64 payload replaced by its size (unchanged when it holds none)."""
    if len(text) < MIN_CHARS or ("base64," not in text and '"' not in text):
        return text
    if "base64," in text:
        text = _DATA_URL.sub(_mark, text)
    return _DATA_KEY.sub(_mark, text)
