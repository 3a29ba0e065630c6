"""Re-encrypting stored content with the active key (``tokentrail keys rotate-content``).

Every ``contents`` row whose ``key_id`` is not the active key's (plain-text rows included) is read,
decrypted in Python, encrypted and indexed again with the active key, and written as a new version
of the same row (``ingested_at`` + 1 ms: a newer write of the span, e.g. a re-sent span or log
records, still wins). Old rows stay readable throughout: readers pick the newest version, and every
key of the keyring decrypts. Work goes day partition by day partition, in slices of about
``SLICE_ROWS`` rows; each rewritten partition is then merged (``OPTIMIZE ... FINAL``) so the old
versions leave the disk (the engine deletes the replaced parts a few minutes later). Rows under a
key the keyring lacks, or that fail to decrypt, are left as they are and counted.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from tokentrail.ingest import logs
from tokentrail.privacy import encryption, search_index
from tokentrail.privacy.content_keys import Keyring
from tokentrail.storage.backend import Store

log = logging.getLogger("tokentrail.privacy")
SLICE_ROWS = 20_000


def _days(store: Store, where: str, params: dict[str, Any]) -> list[tuple[str, int]]:
    rows = store.query(f"""
        SELECT toString(toDate(start_time)) AS day, count() AS n FROM {store.database}.contents FINAL
        WHERE {where} GROUP BY day ORDER BY day""", params)
    return [(r["day"], int(r["n"])) for r in rows]


def _parse(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", ""))


def rotate(store: Store, ring: Keyring, optimize: bool = True) -> dict[str, Any]:
    """Re-encrypt every row not under ``ring.active``; returns counts and timing."""
    t0 = time.perf_counter()
    active = ring.active
    known = [k for k in ring.ids if k != active.key_id]
    # rows this keyring can read: plain text, or under a known older key
    where = "key_id != {a:String} AND (key_id = '' OR key_id IN {known:Array(String)})"
    params: dict[str, Any] = {"a": active.key_id, "known": "[" + ",".join(f"'{k}'" for k in known) + "]"}
    unknown = store.query(f"""SELECT key_id, count() AS n FROM {store.database}.contents FINAL
                              WHERE key_id != {{a:String}} AND key_id != '' AND key_id NOT IN {{known:Array(String)}}
                              GROUP BY key_id""", params)
    done = failed = 0
    for day, n in _days(store, where, params):
        slices = max(1, -(-n // SLICE_ROWS))
        for i in range(slices):
            with logs.WRITE_LOCK:  # no log-record merge of the same rows in between (same process)
                rows = store.query(f"""
                    SELECT project, trace_id, span_id, toString(start_time) AS start_time, captured_reason,
                           toString(ingested_at) AS ingested_at, {encryption.select_columns()}
                    FROM {store.database}.contents FINAL
                    WHERE {where} AND toDate(start_time) = {{d:Date}}
                      AND cityHash64(trace_id, span_id) % {slices} = {i}""", dict(params, d=day))
                ok, bad = _rewrite(store, ring, rows)
            done += ok
            failed += bad
        if optimize:
            store.command(f"OPTIMIZE TABLE {store.database}.contents PARTITION ID '{day.replace('-', '')}' FINAL")
    return {"key_id": active.key_id, "rows": done, "failed": failed,
            "unknown_keys": {r["key_id"]: int(r["n"]) for r in unknown},
            "seconds": round(time.perf_counter() - t0, 3)}


def _rewrite(store: Store, ring: Keyring, rows: list[dict[str, Any]]) -> tuple[int, int]:
    key = ring.active
    cols: dict[str, list[Any]] = {c: [] for c in ("project", "trace_id", "span_id", "start_time", "key_id", "input",
                                                  "output", "search_tokens", "captured_reason", "ingested_at")}
    failed = 0
    for r in rows:
        encryption.decrypt_row(r, ring)
        if "content_error" in r:
            failed += 1
            continue
        for c in ("project", "trace_id", "span_id", "captured_reason"):
            cols[c].append(r[c])
        cols["start_time"].append(_parse(r["start_time"]))
        cols["ingested_at"].append(_parse(r["ingested_at"]) + timedelta(milliseconds=1))
        cols["key_id"].append(key.key_id)
        for field in encryption.FIELDS:
            cols[field].append(encryption.encrypt_value(key, r[field], field, r["trace_id"], r["span_id"]))
        cols["search_tokens"].append(search_index.index(key.index_key, r["input"], r["output"]))
    if cols["project"]:
        store.insert_arrow("contents", pa.table({
            **{c: cols[c] for c in ("project", "trace_id", "span_id", "key_id", "captured_reason")},
            "start_time": pa.array(cols["start_time"], pa.timestamp("us", tz="UTC")),
            "ingested_at": pa.array(cols["ingested_at"], pa.timestamp("ms", tz="UTC")),
            "input": pa.array(cols["input"], pa.binary()),
            "output": pa.array(cols["output"], pa.binary()),
            "search_tokens": pa.array(cols["search_tokens"], pa.list_(pa.uint64())),
        }))
    return len(cols["project"]), failed


def plain_rows(store: Store) -> int:
    """Rows still stored as plain text (from before encryption, or written with ``content_key = off``)."""
    rows = store.query(f"SELECT count() AS n FROM {store.database}.contents WHERE key_id = '' "
                       "AND (input != '' OR output != '')")
    return int(rows[0]["n"]) if rows else 0


def encrypt_plain_rows(store: Store, ring: Keyring | None) -> dict[str, Any] | None:
    """At start: encrypt the plain-text rows a store holds from before encryption (none: a cheap count)."""
    if ring is None or not plain_rows(store):
        return None
    result = rotate(store, ring)
    log.info("encrypted %d plain-text content rows with key %s", result["rows"], result["key_id"])
    return result
