"""The live price table: reloaded when the user's price file changes, without a restart."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from .table import PriceRow, PricingError, load_price_rows, price_version

_Stamp = tuple[int, int, int] | None


class PriceBook:
    """Current price rows and their version; `maybe_reload()` is cheap enough to call every few seconds.

    A bad or missing user file at construction raises PricingError. Later, a bad or vanished file keeps
    the last good table (an editor's save may briefly remove it) and is reported in `last_error`.
    """

    def __init__(self, user_file: Path | None = None) -> None:
        self._user_file = user_file
        self._lock = threading.Lock()
        self._stamp = self._current_stamp()
        if user_file is not None and self._stamp is None:
            raise PricingError(f"{user_file}: price file missing or unreadable")
        rows = tuple(load_price_rows(user_file))
        self._state: tuple[tuple[PriceRow, ...], str] = (rows, price_version(rows))
        self.last_error: PricingError | None = None

    @property
    def user_file(self) -> Path | None:
        return self._user_file

    @property
    def rows(self) -> tuple[PriceRow, ...]:
        return self._state[0]

    @property
    def version(self) -> str:
        return self._state[1]

    def snapshot(self) -> tuple[tuple[PriceRow, ...], str]:
        """Rows and version read together, so they always belong to each other."""
        return self._state

    def maybe_reload(self) -> bool:
        """Reload if the user file's mtime, size or inode changed; return True if the table changed."""
        if self._user_file is None:
            return False
        with self._lock:
            stamp = self._current_stamp()
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            if stamp is None:
                self.last_error = PricingError(
                    f"{self._user_file}: price file missing or unreadable; keeping the previous prices"
                )
                return False
            try:
                rows = tuple(load_price_rows(self._user_file))
            except PricingError as exc:
                self.last_error = exc
                return False
            self.last_error = None
            version = price_version(rows)
            changed = version != self._state[1]
            self._state = (rows, version)
            return changed

    def _current_stamp(self) -> _Stamp:
        if self._user_file is None:
            return None
        try:
            stat = os.stat(self._user_file)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size, stat.st_ino
