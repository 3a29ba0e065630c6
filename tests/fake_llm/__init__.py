"""Local fake LLM provider (OpenAI + Anthropic wire formats). Rules and scenarios: see ``server.py``.

In-process (background thread, free loopback port)::

    from tests.fake_llm import start_fake_llm

    with start_fake_llm() as fake:                      # or fake = start_fake_llm(); ...; fake.stop()
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini+chunks:3", messages=[...])
        assert fake.requests[-1]["headers"]["authorization"] == "Bearer sk-test"

As a process (benchmarks): ``python -m tests.fake_llm --port 8765`` (prints the URL once listening).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from aiohttp import web

from .scenarios import BASE_SENTENCE, BASE_WORDS, SCENARIO_HEADER, TOOL_CALL_TOKENS
from .server import STATE, create_app


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start ``app`` on host:port (0 = a free port) in the running loop; returns the runner and the port."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.SockSite(runner, sock, backlog=1024).start()
    return runner, sock.getsockname()[1]


class FakeLLM:
    """A fake provider served from a daemon thread with its own event loop."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, max_recorded: int | None = None) -> None:
        self.host = host
        self.port = port
        self.app = create_app(max_recorded)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # -- lifecycle
    def start(self) -> FakeLLM:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                self._runner, self.port = loop.run_until_complete(start_site(self.app, self.host, self.port))
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                loop.close()
                ready.set()
                return
            self._loop = loop
            ready.set()
            try:
                loop.run_forever()
                loop.run_until_complete(self._runner.cleanup())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-llm", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            self._thread = None
            raise RuntimeError(f"fake LLM server failed to start on {self.host}:{self.port}") from failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
        self._loop = self._thread = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- addresses
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (use as the Anthropic client's base_url)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (the OpenAI client's base_url must include /v1)."""
        return f"{self.base_url}/v1"

    anthropic_base_url = base_url

    # -- recorded requests
    @property
    def requests(self) -> list[dict[str, Any]]:
        """Snapshot of the recorded requests, oldest first (see ``server.py`` for the dict keys)."""
        return list(self.app[STATE].requests)

    @property
    def last_request(self) -> dict[str, Any]:
        return self.app[STATE].requests[-1]

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    def reset(self) -> None:
        """Forget the recorded requests (ids keep increasing)."""
        self.app[STATE].requests.clear()


def start_fake_llm(host: str = "127.0.0.1", port: int = 0, max_recorded: int | None = None) -> FakeLLM:
    """Start a fake provider in a background thread; also usable as a context manager.

    ``port=0`` picks a free port; ``max_recorded`` bounds the recorded requests (default: keep all).
    """
    return FakeLLM(host, port, max_recorded).start()


__all__ = [
    "BASE_SENTENCE",
    "BASE_WORDS",
    "SCENARIO_HEADER",
    "TOOL_CALL_TOKENS",
    "FakeLLM",
    "create_app",
    "start_fake_llm",
    "start_site",
]
