"""PriceBook picks up edits of the user's price file without a restart, and survives bad edits."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tokentrail.pricing import PriceBook, PricingError, load_price_rows, price_version

_mtime_ns = 1_700_000_000_000_000_000


def write(path: Path, text: str) -> None:
    """Write and give the file a new mtime, so the change is visible even within one clock tick."""
    global _mtime_ns
    path.write_text(text, encoding="utf-8")
    _mtime_ns += 1_000_000_000
    os.utime(path, ns=(_mtime_ns, _mtime_ns))


def house_price(book: PriceBook) -> float | None:
    return next((row.input for row in book.rows if row.model_key == "house-model"), None)


@pytest.fixture
def price_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    write(path, '[[prices]]\nmodel = "house-model"\ninput = 1.0\noutput = 2.0\n')
    return path


def test_book_starts_with_defaults_and_user_rows(price_file: Path) -> None:
    book = PriceBook(price_file)
    assert list(book.rows) == load_price_rows(price_file)
    assert book.version == price_version(book.rows)
    assert house_price(book) == 1.0


def test_unchanged_file_is_not_reloaded(price_file: Path) -> None:
    book = PriceBook(price_file)
    assert book.maybe_reload() is False
    assert book.maybe_reload() is False


def test_edited_file_is_reloaded_with_a_new_version(price_file: Path) -> None:
    book = PriceBook(price_file)
    old_version = book.version
    write(price_file, '[[prices]]\nmodel = "house-model"\ninput = 3.0\noutput = 2.0\n')
    assert book.maybe_reload() is True
    assert house_price(book) == 3.0
    assert book.version != old_version
    assert book.snapshot() == (book.rows, book.version)


def test_touching_the_file_without_changing_prices_reports_no_change(price_file: Path) -> None:
    book = PriceBook(price_file)
    write(price_file, price_file.read_text())
    assert book.maybe_reload() is False


def test_bad_edit_keeps_the_previous_prices_until_fixed(price_file: Path) -> None:
    book = PriceBook(price_file)
    version = book.version
    write(price_file, '[[prices]]\nmodel = "house-model"\ninput = -3\noutput = 2.0\n')
    assert book.maybe_reload() is False
    assert (book.version, house_price(book)) == (version, 1.0)
    assert isinstance(book.last_error, PricingError) and "entry 0" in str(book.last_error)
    write(price_file, '[[prices]]\nmodel = "house-model"\ninput = 4.0\noutput = 2.0\n')
    assert book.maybe_reload() is True
    assert (house_price(book), book.last_error) == (4.0, None)


def test_removed_file_keeps_the_previous_prices(price_file: Path) -> None:
    book = PriceBook(price_file)
    price_file.unlink()
    assert book.maybe_reload() is False
    assert house_price(book) == 1.0 and book.last_error is not None


def test_replaced_file_is_reloaded(price_file: Path, tmp_path: Path) -> None:
    """Editors save by writing a new file and renaming it over the old one."""
    book = PriceBook(price_file)
    new = tmp_path / "prices.toml.tmp"
    write(new, '[[prices]]\nmodel = "house-model"\ninput = 5.0\noutput = 2.0\n')
    new.replace(price_file)
    assert book.maybe_reload() is True
    assert house_price(book) == 5.0


def test_concurrent_callers_reload_once(price_file: Path) -> None:
    book = PriceBook(price_file)
    write(price_file, '[[prices]]\nmodel = "house-model"\ninput = 6.0\noutput = 2.0\n')
    start = threading.Barrier(8)
    results: list[bool] = []

    def call() -> None:
        start.wait(timeout=10)
        results.append(book.maybe_reload())

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(results) == [False] * 7 + [True]
    assert house_price(book) == 6.0


def test_book_without_user_file_never_reloads() -> None:
    book = PriceBook()
    assert book.rows and book.maybe_reload() is False


def test_missing_or_bad_file_at_start_raises(tmp_path: Path) -> None:
    with pytest.raises(PricingError, match="missing"):
        PriceBook(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    write(bad, "[{")
    with pytest.raises(PricingError, match="invalid JSON"):
        PriceBook(bad)
