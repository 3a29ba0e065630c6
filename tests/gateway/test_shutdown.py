"""A graceful stop spools the calls the gateway still buffers: none is lost."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai

from tests.fake_llm import FakeLLM
from tests.gateway.conftest import write_config
from tests.support import ServerProcess, wait_for


def test_calls_buffered_at_a_graceful_stop_are_recorded(tmp_path: Path, fake_llm_server: FakeLLM) -> None:
    config = write_config(tmp_path / "gateway.toml", fake_llm_server)
    server = ServerProcess(tmp_path / "data", extra=["--gateway-config", str(config)]).start()
    try:
        client = openai.OpenAI(
            base_url=f"{server.url}/gateway/openai/v1",
            api_key="sk-test",
            max_retries=0,
            default_headers={"X-Tokentrail-Project": "stop", "X-Tokentrail-Route": "r"},
        )
        for _ in range(20):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    finally:
        server.stop()  # SIGTERM right after the last answer, inside the recorder's ~100 ms window
    again = ServerProcess(tmp_path / "data").start()
    try:

        def recorded() -> int:
            doc = httpx.get(f"{again.url}/api/stats/routes", params={"project": "stop", "hours": 1}).json()
            return sum(r["requests"] for r in doc["routes"])

        assert wait_for(lambda: recorded() == 20, 30, 0.1)
    finally:
        again.stop()
