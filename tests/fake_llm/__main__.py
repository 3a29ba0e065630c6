"""Run the fake LLM provider as a process: ``python -m tests.fake_llm --port 8765``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from . import create_app, start_site


async def _serve(host: str, port: int, max_recorded: int) -> None:
    runner, port = await start_site(create_app(max_recorded or None), host, port)
    print(f"fake-llm listening on http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_llm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed on stdout)")
    parser.add_argument(
        "--max-recorded", type=int, default=10_000, help="recorded requests kept in memory (0 = unbounded)"
    )
    parser.add_argument("--no-uvloop", action="store_true", help="use the default asyncio event loop")
    args = parser.parse_args(argv)
    if not args.no_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(_serve(args.host, args.port, args.max_recorded))


if __name__ == "__main__":
    sys.exit(main())
