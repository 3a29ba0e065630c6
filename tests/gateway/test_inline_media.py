"""Inline media in a prompt sent through the gateway is kept as its size (privacy/inline_data.py): the
captured request stays valid JSON with everything but the image's bytes, whatever its size."""

from __future__ import annotations

import base64
import json
import os

from tests.gateway.conftest import CONTENTS, one_span, openai_via
from tests.support import ServerThread

CAPTURE = {"X-Tokentrail-Capture": "true"}


def test_an_image_in_a_prompt_is_kept_as_its_size(server: ServerThread, project: str) -> None:
    """A prompt with a 400 KB image (above the gateway's 256 KB content limit): the image becomes its size and
    the rest of the request (the question after it, the model) is kept as valid JSON."""
    picture = os.urandom(400_000)
    data = base64.b64encode(picture).decode()
    reply = openai_via(server, project, **CAPTURE).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}", "detail": "high"}},
            {"type": "text", "text": "Describe the chart."}]}])
    assert reply.choices[0].message.content
    one_span(server, project)
    (row,) = server.contents(CONTENTS, {"p": project})
    sent = json.loads(row["input"])
    assert sent["model"] == "gpt-4o-mini"
    assert sent["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,[base64 omitted: {len(picture)} bytes]",
                                            "detail": "high"}},
        {"type": "text", "text": "Describe the chart."}]
