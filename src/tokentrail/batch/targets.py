"""Where chunks are loaded: the store opened by this process, or a running server.

chDB lets one process own a data directory, so while ``tokentrail serve`` runs, ingest
sends each chunk to it (``POST /api/ingest/files/chunk``) and the server loads it with
the same ``load_chunk``; otherwise ingest opens the store itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import httpx

from tokentrail.auth.client import auth_headers
from tokentrail.batch.formats import Reject
from tokentrail.batch.loader import Chunk, ChunkResult, ManifestConflict, load_chunk, load_chunks
from tokentrail.batch.manifest import EPOCH, FileState, read_states, waiting_for_rollups, write_state
from tokentrail.errors import TokentrailError
from tokentrail.query import rollups
from tokentrail.storage.backend import Store

CHUNK_HEADER = "x-tokentrail-chunk"
KeepRejects = Callable[[list[Reject]], None]


class Target(Protocol):
    where: str

    def states(self, project: str, prefix: str) -> dict[str, FileState]: ...

    def load(self, chunk: Chunk, data: bytes, keep_rejects: KeepRejects) -> ChunkResult:
        """Load a chunk; ``keep_rejects`` gets its bad lines (before the manifest moves when local)."""
        ...

    def load_many(self, items: list[tuple[Chunk, bytes]],
                  keep_rejects: Callable[[Chunk, list[Reject]], None]) -> list[ChunkResult | TokentrailError]:
        """Load chunks of different files (one each), in one insert where it can; a chunk
        that was refused (e.g. a manifest conflict) has its error in its place."""
        ...

    def finish(self) -> None:
        """After the last chunk of a run: bring what follows the rows up to date (rollups)."""
        ...


class LocalTarget:
    """Load into a store this process opened (no server running).

    With no server to keep rollups current, a run refreshes them at its end for every row
    loaded since the last refresh; the manifest remembers what waits (``rollups_from``),
    so rows of a run that was killed are rolled up by the next one."""

    def __init__(self, store: Store, price_version: str, where: str) -> None:
        self.store = store
        self.price_version = price_version
        self.where = where
        self._projects: set[str] = set()

    def states(self, project: str, prefix: str) -> dict[str, FileState]:
        self._projects.add(project)
        return read_states(self.store, project, prefix)

    def load(self, chunk: Chunk, data: bytes, keep_rejects: KeepRejects) -> ChunkResult:
        return load_chunk(self.store, self.price_version, chunk, data, mark_rollups=True,
                          before_commit=lambda result: keep_rejects(result.rejects))

    def load_many(self, items: list[tuple[Chunk, bytes]],
                  keep_rejects: Callable[[Chunk, list[Reject]], None]) -> list[ChunkResult | TokentrailError]:
        return list(load_chunks(self.store, self.price_version, items, mark_rollups=True,
                                before_commit=lambda chunk, result: keep_rejects(chunk, result.rejects)))

    def finish(self) -> None:
        for project in self._projects:
            waiting = waiting_for_rollups(self.store, project)
            if not waiting:
                continue
            since = min(s.rollups_from for s in waiting)
            rows = self.store.query(f"""
                SELECT project, toStartOfMinute(start_time) AS minute FROM {self.store.database}.spans
                WHERE project = {{p:String}} AND source = 'batch' AND ingested_at >= {{t:DateTime64(3)}}
                GROUP BY project, minute""", {"p": project, "t": since.isoformat(sep=" ", timespec="milliseconds")})
            touched = {(r["project"], datetime.fromisoformat(r["minute"])) for r in rows}
            rollups.refresh_user_days(self.store, rollups.refresh(self.store, touched))
            for state in waiting:
                state.rollups_from = EPOCH
                write_state(self.store, state)


class ServerTarget:
    """Send chunks to a running ``tokentrail serve``, which loads and acknowledges each one."""

    def __init__(self, url: str) -> None:
        self.where = url
        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=600, headers=auth_headers())

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            r = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise TokentrailError(f"cannot reach the server at {self.where}: {e}") from e
        if r.status_code == ManifestConflict.status:
            raise ManifestConflict(r.json().get("error", r.text))
        if r.status_code >= 400:
            try:
                detail = r.json().get("error") or r.text
            except ValueError:
                detail = r.text
            raise TokentrailError(f"server answered {r.status_code}: {detail}")
        return r.json()

    def states(self, project: str, prefix: str) -> dict[str, FileState]:
        doc = self._call("POST", "/api/ingest/files/states", json={"project": project, "prefix": prefix})
        return {f["source"]: FileState.from_dict(f) for f in doc["files"]}

    def load(self, chunk: Chunk, data: bytes, keep_rejects: KeepRejects) -> ChunkResult:
        doc = self._call("POST", "/api/ingest/files/chunk", content=data,
                         headers={CHUNK_HEADER: json.dumps(chunk.model_dump()),
                                  "content-type": "application/octet-stream"})
        result = ChunkResult.model_validate(doc)
        keep_rejects(result.rejects)  # after the server recorded the chunk: a crash right here loses them
        return result

    def load_many(self, items: list[tuple[Chunk, bytes]],
                  keep_rejects: Callable[[Chunk, list[Reject]], None]) -> list[ChunkResult | TokentrailError]:
        out: list[ChunkResult | TokentrailError] = []
        for chunk, data in items:  # the server loads one chunk per request
            try:
                out.append(self.load(chunk, data, lambda rejects, c=chunk: keep_rejects(c, rejects)))
            except TokentrailError as e:
                out.append(e)
        return out

    def finish(self) -> None:
        self.client.close()
