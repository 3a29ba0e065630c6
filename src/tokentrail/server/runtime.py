"""Everything a running server holds: store, spool, inserter, prices, jobs, counters."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from tokentrail import audit
from tokentrail.alerts import config as alerts_config
from tokentrail.alerts.service import AlertService
from tokentrail.auth import sessions
from tokentrail.auth.keys import KeyCache
from tokentrail.config import Settings
from tokentrail.ingest.batch_summary import BatchSummary, summarize
from tokentrail.ingest.inserter import Inserter
from tokentrail.ingest.spool import Spool
from tokentrail.pricing import PriceBook
from tokentrail.pricing.store import sync_prices
from tokentrail.privacy import content_keys, encryption, rotation
from tokentrail.privacy import ingest as privacy_ingest
from tokentrail.query import rollups
from tokentrail.query.rollups import RollupQueue
from tokentrail.server.auth import ConfigError, parse_langfuse_keys
from tokentrail.server.gate import ViewGate
from tokentrail.server.jobs import Scheduler
from tokentrail.server.prometheus import SpanMetrics
from tokentrail.storage.backend import Store, open_store
from tokentrail.storage.migrations import migrate

log = logging.getLogger("tokentrail.server")
USER_DAYS_EVERY = 60.0  # seconds between refreshes of the per-user daily rollup
ROLLUP_DUTY_FACTOR = 4.0  # after a refresh that took d seconds, the next waits at least 4 d
# A refresh costs ~0.2 s of CPU however few minutes it covers, and reads compute the minutes still
# pending from the raw spans (exact either way), so light traffic waits to refresh in one go: the job
# (every rollup_seconds) refreshes once this many spans or minutes are pending, or the oldest has
# waited ROLLUP_MAX_DELAY seconds. Heavy traffic refreshes every run, as before.
ROLLUP_MAX_DELAY = 60.0
ROLLUP_DUE_SPANS = 20_000
ROLLUP_DUE_MINUTES = 30
# A read (API, UI, Grafana, /metrics) keeps the batching at batch_seconds this long; after it, a trickle
# batches for up to batch_seconds_unwatched (ingest/spool.py) and the next read has it inserted first.
WATCH_SECONDS = 300.0
FRESH_TIMEOUT = 10.0  # longest a read waits for the spooled calls to be inserted (then it answers anyway)


@dataclass
class IngestCounters:
    """What came in and what was refused, by reason (flushed to the ingest_events table)."""

    accepted_spans: int = 0
    requests: int = 0
    pending: dict[tuple[str, str, str], int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refused(self, project: str, kind: str, reason: str, count: int = 1) -> None:
        with self.lock:
            key = (project, kind, reason[:300])
            self.pending[key] = self.pending.get(key, 0) + count
            self.totals[kind] = self.totals.get(kind, 0) + count

    def drain(self) -> dict[tuple[str, str, str], int]:
        with self.lock:
            out, self.pending = self.pending, {}
        return out


class Runtime:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        if settings.langfuse_keys.strip():  # a bad key setting stops the start, not the first Langfuse request
            try:
                parse_langfuse_keys(settings.langfuse_keys)
            except (ValueError, OSError) as e:
                raise ConfigError(f"bad langfuse_keys setting: {e}") from e
        try:  # a broken alerts file stops the start too, before the store is opened
            alerts_file = alerts_config.load(settings.alerts_file)
        except ValueError as e:
            raise ConfigError(str(e)) from e
        try:  # redaction and capture policy settings (privacy/): a bad pattern or rule stops the start
            privacy_ingest.check_settings(settings)
        except (ValueError, OSError) as e:
            raise ConfigError(f"bad redaction or capture setting: {e}") from e
        self.settings = settings
        self.started = time.time()
        self.instance_id = uuid.uuid4().hex  # /healthz names it: a client can tell this server from another
        self.store = store or open_store(settings.storage_url)
        migrate(self.store, settings.retention)
        privacy_ingest.load_at_start(self.store, settings)  # the stored capture rules, before any request
        try:  # content encryption (privacy/): the keyring, and plain-text rows from before it encrypted
            self.content_keys = content_keys.load(settings.content_key, settings.data_dir)
        except content_keys.KeyConfigError as e:
            raise ConfigError(f"bad content_key setting: {e}") from e
        encryption.configure(self.content_keys)
        rotation.encrypt_plain_rows(self.store, self.content_keys)
        self.keys = KeyCache(self.store)  # API keys by hash, reloaded every 2 s (a revoke lands in seconds)
        sessions.start_caches(self.store)  # UI accounts and sessions, reloaded every 2 s (no I/O per request)
        self.prices = PriceBook(Path(settings.prices_file) if settings.prices_file else None)
        self._price_error = ""  # the last price file error logged (each is logged once)
        sync_prices(self.store, self.prices, prune=True)
        self.spool = Spool(settings.spool_dir, segment_age=settings.batch_seconds,
                           unwatched_age=settings.batch_seconds_unwatched,
                           max_backlog_bytes=settings.spool_max_mb << 20, fsync=settings.spool_fsync)
        self.inserter = Inserter(self.store, self.spool, price_version=lambda: self.prices.version)
        self.counters = IngestCounters()
        self.span_metrics = SpanMetrics()
        self.rollup_queue = RollupQueue(settings.spool_dir / "rollups.pending")
        self.view_gate = ViewGate()
        self.inserter.gate = self.view_gate.write  # an insert and its bookkeeping: one step for readers
        self.before_settle: list[Callable[[], object]] = []
        # days whose per-user / per-session rollup rows are owed (after their minutes are refreshed)
        self.day_queue = RollupQueue(settings.spool_dir / "rollup_days.pending")
        self._days_refreshed = 0.0
        self._live_lock = threading.Lock()
        self._live_at = 0.0  # when a live reader last had the spooled calls inserted
        self._rollups_next = 0.0
        self._owed_since = 0.0  # monotonic time the oldest pending minute was queued (0: none)
        self._spans_owed = 0  # spans inserted since the last refresh began
        self.inserter.on_loaded.append(self._after_insert)
        self.inserter.on_quarantined.append(lambda project, reason: self.counters.refused(
            project or settings.default_project, "quarantined_request", reason))
        self.scheduler = Scheduler()
        self.scheduler.add("reload-prices", 3.0, self.reload_prices)
        self.scheduler.add("flush-ingest-events", 10.0, self.flush_ingest_events)
        self.scheduler.add("rollups", settings.rollup_seconds, self.refresh_rollups)
        self.scheduler.add("spool-retention", 600.0, self.expire_spool)
        # alerts (alerts/): rules and receivers from the alerts file, evaluated on this runner
        self.alerts = AlertService(self.store, settings.alerts_file, holder=self.instance_id, base_url=settings.url,
                                   interval=settings.alerts_interval, config=alerts_file)
        if settings.alerts_interval > 0:
            self.scheduler.add("alerts", settings.alerts_interval, self._alerts_round)

    def start(self) -> None:
        self.inserter.start()
        self.scheduler.start()
        self.keys.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self.alerts.stop()
        self.keys.stop()
        self.inserter.stop(drain=True)
        self.refresh_rollups(all_levels=True)
        self.flush_ingest_events()
        audit.close(self.store)
        sessions.stop(self.store)  # the account and session caches' reload threads
        self.spool.close()
        self.store.close()

    def pending_minutes(self, project: str) -> frozenset[datetime]:
        """Minutes of ``project`` whose rollup rows are not refreshed yet (reads compute them)."""
        return self.rollup_queue.pending_for(project)

    def stale_days(self, project: str) -> frozenset[datetime]:
        """Days of ``project`` whose per-user / per-session rollup rows are not refreshed yet: those owed,
        and those of minutes not refreshed yet (reads compute them)."""
        minutes = self.rollup_queue.pending_for(project)
        return self.day_queue.pending_for(project) | {m.replace(hour=0, minute=0) for m in minutes}

    def _after_insert(self, version: datetime, summary: BatchSummary | None = None) -> None:
        """The rollups' and /metrics' share of an insert (its ``summary``: one query for both, and for the
        double-count check, made by the inserter; read here when a loader gives none)."""
        summary = summary or summarize(self.store, version, candidates=False)  # e.g. batch files: no check
        if not self._owed_since:
            self._owed_since = time.monotonic()
        self.rollup_queue.add(summary.minutes)
        self._spans_owed += sum(int(r["requests"]) for r in summary.metrics)
        self.span_metrics.add_rows(summary.metrics)

    def rollups_due(self) -> bool:
        """The scheduled refresh has enough to do (see ROLLUP_MAX_DELAY)."""
        if not len(self.rollup_queue):
            return bool(len(self.day_queue)) and time.monotonic() - self._days_refreshed > USER_DAYS_EVERY
        return (self._spans_owed >= ROLLUP_DUE_SPANS or len(self.rollup_queue) >= ROLLUP_DUE_MINUTES
                or time.monotonic() - self._owed_since >= ROLLUP_MAX_DELAY)

    def refresh_rollups(self, all_levels: bool = False) -> int:
        """Recompute the rollups of every minute touched since the last run; the per-user daily
        rollup (a whole day per refresh) at most every ``USER_DAYS_EVERY`` seconds. The scheduled run
        (``all_levels`` false) does so only when due (``rollups_due``)."""
        if not all_levels and time.monotonic() < self._rollups_next:
            return 0  # keep rollup work to a fifth of the time, whatever the backlog of minutes
        if not all_levels and not self.rollups_due():
            return 0  # light traffic: one refresh for a minute's worth of inserts (reads stay exact)
        self._owed_since, self._spans_owed = 0.0, 0  # before the drain: what comes after it is owed anew
        touched = self.rollup_queue.drain()
        started = time.monotonic()
        try:
            if touched:
                self.day_queue.add(list(rollups.refresh(self.store, touched)))  # before the minutes are done
                self._rollups_next = time.monotonic() + ROLLUP_DUTY_FACTOR * (time.monotonic() - started)
        except Exception:
            self.rollup_queue.add(list(touched))  # try again next run
            raise
        finally:
            self.rollup_queue.done(touched)
        if len(self.day_queue) and (all_levels or time.monotonic() - self._days_refreshed > USER_DAYS_EVERY):
            days = self.day_queue.drain()
            try:
                rollups.refresh_user_days(self.store, days)
            except Exception:
                self.day_queue.add(list(days))
                raise
            finally:
                self.day_queue.done(days)
            self._days_refreshed = time.monotonic()
        return len(touched)

    def settle(self, timeout: float = 60.0) -> bool:
        """Everything acknowledged so far is in the store and in the rollups."""
        for flush in self.before_settle:  # e.g. the gateway's buffered calls
            flush()
        done = self.inserter.flush(timeout)
        self.refresh_rollups(all_levels=True)
        return done

    def expire_spool(self) -> int:
        """Quarantined requests hold prompts: they follow the content retention (0 = kept)."""
        days = self.settings.retention_contents_days
        return self.spool.expire(days * 86400.0) if days > 0 else 0

    def wait_for_acknowledged(self, timeout: float) -> bool:
        """Everything acknowledged so far (gateway buffer, spool) is in the store, or ``timeout`` passed."""
        for flush in self.before_settle:
            flush()
        return self.inserter.flush(timeout)

    def fresh(self, watch: bool = True, timeout: float = FRESH_TIMEOUT) -> bool:
        """A reader is about to read: what was acknowledged more than ``batch_seconds`` ago is inserted first
        (the promise of ``batch_seconds``, however long a trickle batched while nobody read). With
        ``watch``, the batching deadline stays at ``batch_seconds`` for the next WATCH_SECONDS. Cheap
        when there is nothing to wait for (one lock); returns whether it waited."""
        waited = self.spool.watch(WATCH_SECONDS) if watch else self.spool.oldest_open()
        if waited < self.settings.batch_seconds or self.inserter.failing:  # failing: no read waits on an outage
            return False
        self.wait_for_acknowledged(timeout)
        return True

    def _alerts_round(self) -> None:
        """An alert round reads the calls up to now, without keeping the batching short (a round every
        alerts_interval is no one watching)."""
        if self.alerts.config.rules:
            self.fresh(watch=False)
        self.alerts.tick()

    def fresh_for_live(self, every: float = 1.0, timeout: float = 2.0) -> None:
        """A live view asks for what arrived up to now: everything acknowledged is inserted at once instead of
        at the batching deadline (up to ``batch_seconds`` at a trickle), at most once per ``every`` seconds
        whatever the number of live readers, and only while someone watches."""
        with self._live_lock:
            now = time.monotonic()
            if now - self._live_at < every:
                return
            self._live_at = now
        self.wait_for_acknowledged(timeout)

    def reload_prices(self) -> bool:
        """Reload a changed price file; a broken one keeps the previous prices, is logged once and shown by
        ``/api/pricing`` (and the cost page) until a good file is saved."""
        changed = self.prices.maybe_reload()
        error = str(self.prices.last_error) if self.prices.last_error is not None else ""
        if error and error != self._price_error:
            log.error("price file not reloaded, the previous prices stay in use: %s", error)
        self._price_error = error
        if changed:
            sync_prices(self.store, self.prices)
            log.info("price table reloaded: version %s", self.prices.version)
        return changed

    def flush_ingest_events(self) -> None:
        pending = self.counters.drain()
        if not pending:
            return
        now = datetime.now(UTC)
        keys = list(pending)
        table = pa.table({
            "time": pa.array([now] * len(keys), pa.timestamp("ms", tz="UTC")),
            "project": [k[0] for k in keys], "kind": [k[1] for k in keys],
            "count": pa.array([pending[k] for k in keys], pa.uint64()), "reason": [k[2] for k in keys],
        })
        self.store.insert_arrow("ingest_events", table)
