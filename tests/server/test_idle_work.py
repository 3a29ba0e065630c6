"""An idle server does (almost) nothing: the job runner sleeps until a job is due, and the caches of
small tables (API keys, sessions, accounts, capture policy) reload only after a write to their table
(``write_generation``), which must change for every write and only for those."""

from __future__ import annotations

import threading
import time

from tests.support import ServerThread, wait_for
from tokentrail.server.jobs import Scheduler
from tokentrail.storage.backend import write_generation


def test_write_generation_changes_with_each_write_of_its_table_only(server: ServerThread) -> None:
    store = server.runtime.store
    store.command("CREATE TABLE IF NOT EXISTS tokentrail.r_generation (x UInt8) ENGINE = MergeTree ORDER BY x")
    g0 = write_generation(store, "r_generation")
    other = write_generation(store, "api_keys")
    store.query("SELECT count() AS n FROM tokentrail.r_generation")
    store.query("WITH 1 AS one SELECT one")
    assert write_generation(store, "r_generation") == g0  # reads write nothing
    store.command("INSERT INTO tokentrail.r_generation VALUES (1)")
    g1 = write_generation(store, "r_generation")
    assert g1 != g0
    store.command("ALTER TABLE tokentrail.r_generation DELETE WHERE x = 1 SETTINGS mutations_sync = 1")
    assert write_generation(store, "r_generation") != g1
    assert write_generation(store, "api_keys") == other  # another table's writes leave it alone
    store.command("DROP TABLE tokentrail.r_generation")


def test_a_key_made_behind_the_cache_is_seen_after_the_next_reload(server: ServerThread) -> None:
    """The cache skips reloads while nothing is written; a write (here straight to the store, as a
    key made through another route would be) makes the next reload happen."""
    from tokentrail.auth.keys import KeyCache, create_key

    cache = KeyCache(server.runtime.store, every=0.05)
    cache.start()
    try:
        before = cache.refreshed_at
        time.sleep(0.5)  # some rounds of the reload loop
        assert cache.refreshed_at == before  # nothing written: no reload
        raw, key = create_key(server.runtime.store, "r-idle", ["read"], name="r-idle")
        wait_for(lambda: cache.lookup(raw) is not None, 10, 0.05)
    finally:
        cache.stop()
        server.runtime.keys.refresh()


def test_jobs_run_on_their_interval_and_a_failing_one_stops_none() -> None:
    runs: dict[str, int] = {"ok": 0, "bad": 0}
    seen = threading.Event()

    def ok() -> None:
        runs["ok"] += 1
        if runs["ok"] >= 3:
            seen.set()

    def bad() -> None:
        runs["bad"] += 1
        raise RuntimeError("boom")

    scheduler = Scheduler()
    scheduler.add("ok", 0.05, ok)
    scheduler.add("bad", 0.05, bad)
    scheduler.start()
    try:
        assert seen.wait(30)
        assert scheduler.jobs["bad"].failures >= 1 and scheduler.jobs["bad"].last_error == "boom"
        late = Scheduler()
        late.start()  # no job yet: it sleeps, and a job added later still runs
        late_ran = threading.Event()
        late.add("late", 0.05, late_ran.set)
        assert late_ran.wait(30)
        late.stop()
    finally:
        scheduler.stop()
