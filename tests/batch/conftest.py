from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tokentrail.batch.run import DeadLetter, Runner, Summary
from tokentrail.batch.targets import LocalTarget
from tokentrail.pricing import PriceBook
from tokentrail.pricing.store import sync_prices
from tokentrail.storage.backend import Store, open_store
from tokentrail.storage.migrations import migrate


@dataclass
class Local:
    """A store opened by the test process (no server), and a way to run ingest into it."""

    store: Store
    target: LocalTarget
    dead_letter: Path

    def ingest(self, *sources: str | Path, project: str = "p", chunk_bytes: int = 32 << 20,
               options: dict | None = None) -> Summary:
        runner = Runner(self.target, project, DeadLetter(self.dead_letter), chunk_bytes=chunk_bytes,
                        options=options)
        return runner.run([str(s) for s in sources])

    def count(self, project: str = "p", final: bool = True) -> int:
        sql = f"SELECT count() AS n FROM tokentrail.spans {'FINAL' if final else ''} WHERE project = {{p:String}}"
        return self.store.query(sql, {"p": project})[0]["n"]


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    store = open_store(f"chdb://{tmp_path / 'db'}")
    migrate(store)
    book = PriceBook(None)
    sync_prices(store, book)
    try:
        yield Local(store, LocalTarget(store, book.version, "local"), tmp_path / "dead-letter.jsonl")
    finally:
        store.close()
