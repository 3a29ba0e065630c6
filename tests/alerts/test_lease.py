"""One evaluator acts when several servers share a store: the lease goes to the earliest claim of a
term, the holder keeps it, and another server takes over within two terms when the holder stops."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest

from tokentrail.alerts.lease import Lease
from tokentrail.storage.backend import Store, open_store
from tokentrail.storage.migrations import migrate


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    s = open_store(f"chdb://{tempfile.mkdtemp(prefix='tt-lease-')}/db")
    migrate(s)
    try:
        yield s
    finally:
        s.close()


def test_one_holder_at_a_time_and_takeover(store: Store) -> None:
    a, b = Lease(store, "server-a", term_seconds=60), Lease(store, "server-b", term_seconds=60)
    t = 1_000_020.0  # 20 s into a term
    assert a.held(t) is True
    assert b.held(t + 1) is False  # a claimed first
    # a renews: it claimed the next term as soon as it held this one
    assert a.held(t + 60) is True and b.held(t + 61) is False
    # a stops after that round; it had already claimed the term after it, which runs out unused;
    # late in that term (past the 75% takeover point) b claims the next one, and holds it from then on
    assert b.held(t + 120) is False
    assert b.held(t + 150) is False  # 50 s into a's last term: b claims the next
    assert b.held(t + 180) is True
    assert a.owner(t + 180) == "server-b"


def test_both_claiming_a_free_term_agree(store: Store) -> None:
    a, b = Lease(store, "x-1", term_seconds=60), Lease(store, "x-2", term_seconds=60)
    t = 5_000_010.0
    held = [a.held(t), b.held(t)]
    assert held.count(True) == 1
