"""Shared parts of the reliability scenarios (tests/reliability and bench/reliability).

Everything runs for real: ``tokentrail serve`` subprocesses (tests/support.py), OTLP over
loopback HTTP, the embedded engine. A scenario is a function returning its figures; the test
runs it small and asserts, the bench runs it long and prints the figures as one JSON line.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.support import ServerProcess, wait_for
from tokentrail.demo.traffic import Traffic
from tokentrail.ingest.wire import kv
from tokentrail.storage.backend import Store, open_store

PROTOBUF = {"content-type": "application/x-protobuf"}
UI_QUERIES = ("/api/stats/routes?hours=1", "/api/metrics/summary?range=1h")


# ---- requests whose span ids we know -------------------------------------------------------

def otlp_request(spans: list[trace_pb2.Span], service: str = "reliability") -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", service), kv("tokentrail.source", "sdk")])
    ss = rs.scope_spans.add()
    ss.scope.name = "tokentrail.reliability"
    ss.spans.extend(spans)
    return req.SerializeToString()


def traffic_request(traffic: Traffic, traces: int) -> tuple[bytes, list[str]]:
    """A request of ``traces`` demo traces (agents, tools, LLM calls) and the span ids it holds."""
    now = time.time_ns()
    spans: list[trace_pb2.Span] = []
    for _ in range(traces):
        spans.extend(traffic.trace_spans(now - int(traffic.rnd.uniform(1, 600) * 1e9)))
    return otlp_request(spans), [s.span_id.hex() for s in spans]


def poison_bodies(count: int, seed: int = 5, flips: int = 3) -> list[bytes]:
    """Bit-flipped real exports that the Python protobuf parser still accepts (and that differ
    from the original after a parse + re-serialize round trip: odd unknown fields, bad enums)."""
    rnd = random.Random(seed)
    original, _ = traffic_request(Traffic(seed=seed), 4)
    found: list[bytes] = []
    tries = 0
    while len(found) < count and tries < count * 2000:
        tries += 1
        body = bytearray(original)
        for _ in range(rnd.randint(1, flips)):
            i = rnd.randrange(len(body))
            body[i] ^= 1 << rnd.randrange(8)
        try:
            parsed = ExportTraceServiceRequest.FromString(bytes(body))
        except Exception:  # noqa: BLE001 - the parser refused it: not what we look for
            continue
        if parsed.SerializeToString() != bytes(body):
            found.append(bytes(body))
    return found


# ---- clients -------------------------------------------------------------------------------

@dataclass
class Sender:
    """One OTLP client in its own thread: sends demo traffic as fast as the server lets it (or
    at ``rate`` requests/s), keeps the span ids of every request answered 200, counts the rest.
    Connection errors (server killed) and 503s are retried after a short pause."""

    url: str
    project: str
    seed: int
    traces_per_request: int = 20
    rate: float = 0.0
    timeout: float = 10.0
    acked: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)  # first answers that were neither 200 nor 503
    retry_after_missing: int = 0
    requests_acked: int = 0

    def __post_init__(self) -> None:
        self.stop = threading.Event()
        self.traffic = Traffic(seed=self.seed)
        self.thread = threading.Thread(target=self._run, name=f"sender-{self.project}-{self.seed}", daemon=True)

    def start(self) -> Sender:
        self.thread.start()
        return self

    def join(self) -> None:
        self.stop.set()
        self.thread.join(60)

    def _run(self) -> None:
        headers = {**PROTOBUF, "x-tokentrail-project": self.project}
        next_at = time.monotonic()
        with httpx.Client(base_url=self.url, timeout=self.timeout) as client:
            body, ids = traffic_request(self.traffic, self.traces_per_request)
            while not self.stop.is_set():
                if self.rate:
                    next_at += 1 / self.rate
                    if self.stop.wait(max(0.0, next_at - time.monotonic())):
                        return
                try:
                    r = client.post("/v1/traces", content=body, headers=headers)
                except httpx.TimeoutException:
                    self.statuses["timeout"] += 1
                    continue
                except httpx.TransportError:
                    self.statuses["connection"] += 1
                    self.stop.wait(0.05)  # the server is down: pace the retries
                    continue
                self.statuses[str(r.status_code)] += 1
                if r.status_code == 200:
                    self.acked.extend(ids)
                    self.requests_acked += 1
                    body, ids = traffic_request(self.traffic, self.traces_per_request)
                elif r.status_code in (503, 507):
                    self.retry_after_missing += "retry-after" not in r.headers
                    if not self.rate:
                        self.stop.wait(0.05)
                elif len(self.unexpected) < 5:
                    self.unexpected.append(f"{r.status_code} {r.text[:300]}")


class PoisonSender(Sender):
    """Sends corrupt-but-parseable bodies (``poison_bodies``) in a loop at ``rate`` requests/s."""

    def _run(self) -> None:
        bodies = poison_bodies(32, seed=self.seed)
        headers = {**PROTOBUF, "x-tokentrail-project": self.project}
        with httpx.Client(base_url=self.url, timeout=self.timeout) as client:
            i = 0
            while not self.stop.wait(1 / (self.rate or 3)):
                try:
                    r = client.post("/v1/traces", content=bodies[i % len(bodies)], headers=headers)
                    self.statuses[str(r.status_code)] += 1
                except httpx.TransportError:
                    self.statuses["connection"] += 1
                i += 1


class Poller:
    """Polls URLs from its own thread; records each answer's latency and status (``timeout``
    when there was no answer within ``timeout`` s)."""

    def __init__(self, url: str, paths: tuple[str, ...], timeout: float = 10.0, interval: float = 0.1) -> None:
        self.url, self.paths, self.timeout, self.interval = url, paths, timeout, interval
        self.samples: dict[str, list[tuple[float, str]]] = {p: [] for p in paths}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(p,), daemon=True) for p in paths]

    def start(self) -> Poller:
        for t in self.threads:
            t.start()
        return self

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(self.timeout + 5)

    def _run(self, path: str) -> None:
        with httpx.Client(base_url=self.url, timeout=self.timeout) as client:
            while not self.stop.wait(self.interval):
                t0 = time.perf_counter()
                try:
                    status = str(client.get(path).status_code)
                except httpx.TimeoutException:
                    status = "timeout"
                except httpx.TransportError:
                    status = "connection"
                self.samples[path].append((time.perf_counter() - t0, status))

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for path, samples in self.samples.items():
            lat = sorted(s[0] for s in samples)
            out[path] = {"answers": len(samples), "max_s": round(lat[-1], 3) if lat else None,
                         "p50_s": round(lat[len(lat) // 2], 3) if lat else None,
                         "statuses": dict(Counter(s[1] for s in samples))}
        return out

    def failures(self) -> dict[str, int]:
        """Per path: polls answered otherwise than 200 (timeouts included)."""
        return {p: sum(1 for _, s in v if s != "200") for p, v in self.samples.items()}


# ---- the server process and what it stored ---------------------------------------------------

def proc_status(pid: int, key: str) -> int:
    """A ``/proc/PID/status`` memory figure (VmHWM, VmRSS) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def restart(server: ServerProcess) -> ServerProcess:
    """The same server (data, port, options) again; a failed start raises with its log's tail."""
    again = ServerProcess(server.data_dir, port=server.port, extra=server.extra)
    try:
        return again.start()
    except (AssertionError, TimeoutError) as e:
        again.stop()
        log = server.data_dir.parent / f"serve-{server.port}.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
        raise RuntimeError(f"restart failed: {e}; server log ends with:\n{tail}") from e


def stop(server: ServerProcess) -> None:
    """SIGTERM (SIGKILL after 30 s), then wait until the process is gone: its store is free to open."""
    server.stop()
    if server.proc is not None and server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait(30)


def flush(server: ServerProcess, timeout: float = 300) -> bool:
    """Wait (at most ``timeout`` s, 300 at most) until every acknowledged span is queryable; whether it is."""
    timeout = min(timeout, 300)
    r = httpx.post(server.url + "/api/admin/flush", params={"timeout": timeout}, timeout=timeout + 30)
    r.raise_for_status()
    return bool(r.json()["flushed"])


def ids_in(store: Store, project: str) -> tuple[Counter[str], int]:
    """Span ids stored for ``project`` (after FINAL: the deduplicated view every query reads) with
    their row counts, and the raw row count."""
    spans = f"{store.database}.spans"
    rows = store.query(f"SELECT span_id, count() AS n FROM {spans} FINAL WHERE project = {{p:String}}"
                       " GROUP BY span_id", {"p": project})
    raw = store.query(f"SELECT count() AS n FROM {spans} WHERE project = {{p:String}}", {"p": project})
    return Counter({r["span_id"]: r["n"] for r in rows}), raw[0]["n"]


def dashboard_requests(server: ServerProcess, project: str, range_: str = "2h") -> int:
    """LLM calls the dashboard counts for ``project`` (the headline summary, read from the rollups)."""
    r = httpx.get(server.url + "/api/metrics/summary", params={"project": project, "range": range_}, timeout=60)
    r.raise_for_status()
    return int(r.json()["requests"])


def stored_calls(data_dir: Path, project: str) -> int:
    """LLM and embedding calls stored for ``project`` (raw rows after FINAL); the server must be stopped."""
    store = open_store(f"chdb://{data_dir / 'db'}")
    try:
        return store.query(f"SELECT count() AS n FROM {store.database}.spans FINAL WHERE project = {{p:String}}"
                           " AND kind IN ('llm', 'embedding')", {"p": project})[0]["n"]
    finally:
        store.close()


def stored_ids(data_dir: Path, project: str) -> tuple[Counter[str], int]:
    """``ids_in`` the embedded store of ``data_dir``: the server must be stopped (one process per store)."""
    store = open_store(f"chdb://{data_dir / 'db'}")
    try:
        return ids_in(store, project)
    finally:
        store.close()


def loss_figures(acked: list[str], stored: Counter[str]) -> dict[str, int]:
    acked_set = set(acked)
    return {"acked_spans": len(acked), "acked_distinct": len(acked_set), "stored_spans": sum(stored.values()),
            "lost": len(acked_set - stored.keys()), "duplicated": sum(1 for n in stored.values() if n > 1),
            "stored_not_acked": len(stored.keys() - acked_set)}


def quarantined_files(data_dir: Path) -> int:
    """Requests (or, before the split-and-quarantine change, whole segments) the store refused."""
    spool = data_dir / "spool"
    return len(list(spool.glob("quarantine/q-*.pb"))) + len(list(spool.glob("failed/*.pb")))


def wait_acked(senders: list[Sender], more_than: int, timeout: float = 60) -> None:
    wait_for(lambda: sum(len(s.acked) for s in senders) > more_than, timeout)


def new_data_dir(root: Path, name: str) -> Path:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def pid_of(server: ServerProcess) -> int:
    assert server.proc is not None
    return server.proc.pid


def env_flag(name: str) -> str:
    return os.environ.get(name, "")
