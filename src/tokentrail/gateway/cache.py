"""Opt-in exact-match response cache (``X-Tokentrail-Cache: true``), in memory, LRU with a TTL.

The key is a hash of the project, upstream, method, path and query, the provider key the
client sent (so a cached reply is only served to a holder of the same key), the encodings it
accepts, and the request body bytes: the same call from the same client code hits; a
reordered JSON object or an extra space misses. Only complete 200 responses are kept (a
stream only if it reached its terminal event), up to ``max_bytes`` in total; each entry
lives ``ttl`` seconds (or the request's ``X-Tokentrail-Cache-Ttl``). Used from the event
loop only, so it takes no lock. A hit is recorded as a call with ``tokentrail.cache_hit``
and zero billed tokens (see spans.py).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class Entry:
    headers: list[tuple[bytes, bytes]]
    body: bytes
    streamed: bool
    content_encoding: str
    expires: float

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers) + 100


class ResponseCache:
    def __init__(self, max_bytes: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        self.stored = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @staticmethod
    def key(*parts: bytes | str) -> bytes:
        h = hashlib.blake2b(digest_size=20)
        for p in parts:
            raw = p.encode() if isinstance(p, str) else p
            h.update(len(raw).to_bytes(8, "little"))
            h.update(raw)
        return h.digest()

    def get(self, key: bytes) -> Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires < self.clock():
            self._remove(key)
            entry = None
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: bytes, headers: list[tuple[bytes, bytes]], body: bytes, streamed: bool,
            content_encoding: str, ttl: float | None = None) -> bool:
        ttl = self.ttl if ttl is None else ttl
        entry = Entry(headers, body, streamed, content_encoding, self.clock() + ttl)
        if ttl <= 0 or entry.size > self.max_bytes // 4:
            return False
        if key in self._entries:
            self._remove(key)
        self._entries[key] = entry
        self._bytes += entry.size
        while self._bytes > self.max_bytes:
            self._remove(next(iter(self._entries)))
        self.stored += 1
        return True

    def _remove(self, key: bytes) -> None:
        self._bytes -= self._entries.pop(key).size

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes
