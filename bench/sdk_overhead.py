"""What the SDK adds to the app's thread per LLM call, next to OpenInference. Prints one JSON line.

    python bench/sdk_overhead.py [--rounds 7] [--calls 300] [--micro 20000]

The same ``openai`` ``chat.completions.create`` (non-streaming, and a 20-chunk stream read to the
end) against the fake provider (zero latency, its own process), in one process. Both libraries
export to a real ``tokentrail serve`` (its own process): ``tokentrail.init()`` with its defaults
(content sampled at 1%); openinference-instrumentation-openai with the OTel SDK, a
BatchSpanProcessor and the OTLP/HTTP exporter.

Paired calls, in the steady state: with a library switched on (patched once), calls alternate
one by one between a client going through the patched method and a client whose ``request`` is
bound to the original, unpatched method, so the slow drift of this shared machine falls on both
halves. Per round: the median of the pairs' differences; the figures are the median over rounds
(libraries interleaved, order shuffled each round).

- ``*_added_cpu_us``: the app thread's CPU per call (``time.thread_time_ns``), the target's
  measure (<= 15 us, and <= 1/5 of OpenInference's); ``*_added_wall_us``: the call's wall time.
- ``*_export_cpu_us``: the process's CPU per recorded call while the round's spans are flushed
  (the exporter's work: building, encoding, sending; tokentrail does part of it during the round
  already, every ``flush_seconds``, so its figure is a lower bound);
  ``*_tokentrail_span_build_cpu_us``: building and encoding one recorded call's span, measured apart.
- ``*_ratio_vs_openinference``: tokentrail's added CPU / OpenInference's.
- ``micro_wrapper_us``: tokentrail's wrapper alone around a no-op ``request`` (real
  FinalRequestOptions, export thread running): the app-thread cost without the client's noise;
  ``micro_stream_20_chunks_us``: the stream wrapper's added cost for 20 parsed chunks.
- ``*_import_and_init_s``: import and set-up in a fresh interpreter (openai already imported).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
from openai._base_client import SyncAPIClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import ServerProcess, free_port, start_fake_llm_process  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say something short about observability."}]
PROJECT = "bench-sdk"



class Modes:
    """Switches instrumentation on and off in one process (one mode at a time)."""

    def __init__(self, server_url: str) -> None:
        from openinference.instrumentation.openai import OpenAIInstrumentor
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        import tokentrail

        tokentrail.init(endpoint=server_url, project=PROJECT, instrument=[], service_name="bench")
        self.tokentrail = tokentrail
        self.provider = TracerProvider(resource=Resource.create({"service.name": "bench-oi"}))
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
            endpoint=server_url + "/v1/traces", headers={"x-tokentrail-project": PROJECT + "-oi"})))
        self.oi = OpenAIInstrumentor()
        self.handle: Any = None

    def on(self, mode: str) -> None:
        if mode == "tokentrail":
            self.handle = self.tokentrail.instrument_openai()
        else:
            self.oi.instrument(tracer_provider=self.provider)

    def off(self, mode: str) -> None:
        if mode == "tokentrail":
            self.handle.uninstrument()
        else:
            self.oi.uninstrument()

    def flush(self, mode: str) -> int:
        """Export what ``mode`` recorded; returns the process's CPU ns meanwhile (any thread: the OTel SDK's
        force_flush exports on the calling thread, tokentrail's flush waits for its export thread)."""
        p0 = time.process_time_ns()
        if mode == "tokentrail":
            self.tokentrail.flush(30)
        else:
            self.provider.force_flush()
        return time.process_time_ns() - p0


def one_call(client: openai.OpenAI, stream: bool) -> None:
    if stream:
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                extra_headers={"X-Fake-Scenario": "chunks:20"}):
            pass
    else:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def pairs(modes: Modes, mode: str, watched: openai.OpenAI, plain: openai.OpenAI, stream: bool,
          n: int) -> dict[str, float]:
    """``n`` pairs of calls with ``mode`` switched on: one through the instrumented client class, one
    through a client whose ``request`` is bound to the original method. Medians of the differences."""
    cpu, wall, base = [], [], []
    modes.on(mode)
    for _ in range(10):
        one_call(watched, stream)  # warm-up
        one_call(plain, stream)
    modes.flush(mode)
    for i in range(n):
        sample = {}
        for client in ((watched, plain) if i % 2 else (plain, watched)):
            c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
            one_call(client, stream)
            sample[client is watched] = (time.thread_time_ns() - c0, time.perf_counter_ns() - w0)
        cpu.append(sample[True][0] - sample[False][0])
        wall.append(sample[True][1] - sample[False][1])
        base.append(sample[False][0])
    export = modes.flush(mode)
    modes.off(mode)
    return {"cpu": statistics.median(cpu) / 1e3, "wall": statistics.median(wall) / 1e3,
            "base": statistics.median(base) / 1e3, "export": export / n / 1e3}


def micro(n: int) -> float:
    """tokentrail's wrapper around a no-op request: median over 5 interleaved runs of (wrapped - bare)."""
    from openai._models import FinalRequestOptions

    from tokentrail.sdk.instrument._adapter import get
    from tokentrail.sdk.instrument._wrapper import _sync_wrapper

    options = FinalRequestOptions.construct(method="post", url="/chat/completions",
                                            json_data={"model": "gpt-4o-mini", "messages": MESSAGES})
    result = object()

    def bare(self: Any, cast_to: Any, options: Any, *, stream: bool = False, stream_cls: Any = None) -> Any:
        return result

    wrapped = _sync_wrapper(bare, get("openai"))

    def run(fn: Callable[..., Any]) -> float:
        t = time.thread_time_ns()
        for _ in range(n):
            fn(None, None, options, stream=False, stream_cls=None)
        return (time.thread_time_ns() - t) / n / 1e3

    added = []
    for _ in range(5):
        added.append(run(wrapped) - run(bare))
        time.sleep(0.2)  # let the export thread drain between runs
    return statistics.median(added)


def micro_stream(n: int) -> float:
    """Added cost of reading a 20-chunk stream through tokentrail's stream wrapper (chunks already parsed)."""
    from openai.types.chat import ChatCompletionChunk

    from tokentrail.sdk.instrument._call import begin
    from tokentrail.sdk.instrument._wrapper import finish
    from tokentrail.sdk.instrument.openai import ADAPTER

    chunks = [ChatCompletionChunk.model_validate({
        "id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{"index": 0, "delta": {"content": f"w{i}"}, "finish_reason": None}]}) for i in range(20)]

    class Options:
        url, json_data = "/chat/completions", {"model": "m", "messages": MESSAGES}

    class FakeStream:
        def __init__(self) -> None:
            self._iterator = iter(chunks)

        def close(self) -> None:
            pass

        def __iter__(self) -> Any:
            yield from self._iterator

    def run(wrap: bool) -> float:
        t = time.thread_time_ns()
        for _ in range(n):
            stream = FakeStream()
            if wrap:
                call = begin(ADAPTER, Options, True)
                finish(call, stream)
            for _chunk in stream:
                pass
        return (time.thread_time_ns() - t) / n / 1e3

    added = []
    for _ in range(5):
        added.append(run(True) - run(False))
        time.sleep(0.2)
    return statistics.median(added)


_STARTUP = {
    "tokentrail": "import tokentrail; tokentrail.init(endpoint='http://127.0.0.1:9', export='none')",
    "openinference": ("from openinference.instrumentation.openai import OpenAIInstrumentor; "
                      "from opentelemetry.sdk.trace import TracerProvider; "
                      "OpenAIInstrumentor().instrument(tracer_provider=TracerProvider())"),
}


def startup_seconds(name: str) -> float:
    """Import + init in a fresh interpreter (openai already imported: the app has it anyway); median of 3."""
    code = ("import time, openai; t = time.perf_counter(); " + _STARTUP[name] +
            "; print(time.perf_counter() - t)")
    runs = [float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout) for _ in range(3)]
    return round(statistics.median(runs), 3)


def export_cost(client: openai.OpenAI, stream: bool, n: int = 300) -> float:
    """tokentrail's export-thread CPU per call (build the span + encode it, no HTTP), on recorded calls."""
    import tokentrail
    from tokentrail.sdk import _state
    from tokentrail.sdk._encode import encode_span

    exporter = _state.STATE.exporter
    exporter.flush(30)
    exporter.stopping = True  # pause the export thread: this phase's records stay in the queue
    exporter.wake.set()
    exporter.thread.join(30)
    with tokentrail.instrument_openai():
        for _ in range(n):
            one_call(client, stream)
    records = list(exporter.queue)
    exporter.queue.clear()
    exporter.taken += len(records)
    exporter.stopping = False
    exporter.start()
    t = time.thread_time_ns()
    for record in records:
        encode_span(record.span(_state.STATE.policy))
    return (time.thread_time_ns() - t) / len(records) / 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--micro", type=int, default=20000)
    args = ap.parse_args()

    fake_port = free_port()
    fake = start_fake_llm_process(fake_port, 100)
    server = ServerProcess(Path(tempfile.mkdtemp(prefix="tt-bench-sdk-")) / "data")
    server.data_dir.mkdir(parents=True)
    server.start()
    try:
        modes = Modes(server.url)
        url = f"http://127.0.0.1:{fake_port}/v1"
        client = openai.OpenAI(base_url=url, api_key="sk-bench", max_retries=0)
        plain = openai.OpenAI(base_url=url, api_key="sk-bench", max_retries=0)
        plain.request = types.MethodType(SyncAPIClient.request, plain)  # bypasses any patch of the class
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(args.rounds):
            order = ["tokentrail", "openinference"]
            random.shuffle(order)
            for mode in order:
                for stream in (False, True):
                    kind = "stream" if stream else "plain"
                    results.setdefault((kind, mode), []).append(pairs(modes, mode, client, plain, stream, args.calls))
        out: dict[str, Any] = {"rounds": args.rounds, "pairs_per_round": args.calls}
        for kind in ("plain", "stream"):
            out[f"{kind}_baseline_cpu_us"] = round(statistics.median(
                r["base"] for mode in ("tokentrail", "openinference") for r in results[(kind, mode)]), 1)
            for mode in ("tokentrail", "openinference"):
                rows = results[(kind, mode)]
                for metric in ("cpu", "wall"):
                    out[f"{kind}_{mode}_added_{metric}_us"] = round(statistics.median(r[metric] for r in rows), 1)
                out[f"{kind}_{mode}_export_cpu_us"] = round(statistics.median(r["export"] for r in rows), 1)
            oi = out[f"{kind}_openinference_added_cpu_us"]
            out[f"{kind}_ratio_vs_openinference"] = round(out[f"{kind}_tokentrail_added_cpu_us"] / oi, 3) if oi > 0 \
                else None
        for stream in (False, True):
            out[f"{'stream' if stream else 'plain'}_tokentrail_span_build_cpu_us"] = round(
                export_cost(client, stream), 1)
        modes.tokentrail.flush(30)
        stats = modes.tokentrail.stats()
        out["tokentrail_spans_exported"] = stats["spans_exported"]
        out["tokentrail_spans_dropped"] = stats["spans_dropped_queue_full"] + stats["spans_dropped_memory"]
        out["micro_wrapper_us"] = round(micro(args.micro), 2)
        out["micro_stream_20_chunks_us"] = round(micro_stream(args.micro // 10), 2)
        modes.tokentrail.shutdown()
        for name in _STARTUP:
            out[f"{name}_import_and_init_s"] = startup_seconds(name)
        print(json.dumps(out))
    finally:
        server.stop()
        fake.terminate()
        fake.wait(10)


if __name__ == "__main__":
    main()
