"""One exception type per failure a user can act on; each carries an HTTP status."""

from __future__ import annotations

from pathlib import Path


class TokentrailError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(TokentrailError):
    status = 400


class NotFound(TokentrailError):
    status = 404


class PayloadTooLarge(TokentrailError):
    status = 413


class UnsupportedMediaType(TokentrailError):
    status = 415


class Overloaded(TokentrailError):
    """Ingest buffers are full: the client should retry after ``retry_after`` seconds."""

    status = 503

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageError(TokentrailError):
    status = 500


class StoreBusy(Overloaded, StorageError):
    """A read could not start or finish within its deadline (the store is busy or slow): 503 +
    Retry-After, instead of queueing forever."""

    status = 503


class DataDirLocked(StorageError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"the data directory {path} is in use by another process (is `tokentrail serve` running?). "
            "While the server runs, use commands that go through it (e.g. `tokentrail stats --url ...`).")
        self.path = path
