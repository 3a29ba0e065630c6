"""Content encrypted at rest: AES-256-GCM per value, a key id per row, decrypted in Python on read.

A stored ``input`` / ``output`` value is ``nonce (12 bytes) || ciphertext || tag (16 bytes)``, with the
associated data ``"<field>:<trace_id><span_id>"`` (a value cannot be moved to another row or field
unnoticed); ``key_id`` names the key; an empty value stays empty (nothing to hide, and ``!= ''`` still
tells which rows hold content). ``key_id = ''`` marks a plain-text row (written before encryption, or
with ``content_key = off``).

Ingest (the hot path) encrypts in the engine, inside the INSERT ... SELECT that normalizes spooled
OTLP (``encrypt('aes-256-gcm', ...)``, same bytes as Python's ``AESGCM``): the nonce of a value is
``8-byte insert prefix || 4-byte row counter`` (prefix = the insert's millisecond version and 2 random
bytes of this process; counter = 2 x row number + field), unique per insert and so never reused
under one key. Python paths (log records, rotation) use 12 random bytes (``os.urandom``).

The key appears only in the text of that INSERT: never in a table or view definition. chDB keeps no
query log; a ClickHouse server masks every argument of ``encrypt`` after the mode in its query log
and text log (its FunctionSecretArgumentsFinder). Error messages are scrubbed of key material
(``scrub``) before they are logged, counted or shown.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tokentrail.privacy import search_index
from tokentrail.privacy.content_keys import ContentKey, Keyring

NONCE_BYTES = 12
# the index key of plain-text rows (content_key = off): public, so such rows are searchable, not hidden
PLAIN_INDEX_KEY = hashlib.sha256(b"tokentrail plain-text search index").digest()
FIELDS = ("input", "output")
_PROCESS_SALT = os.urandom(2)
_state: dict[str, Keyring | None] = {"ring": None}


def configure(ring: Keyring | None) -> None:
    """The keyring used from now on by ingest and reads in this process (None: encryption off)."""
    _state["ring"] = ring


def keyring() -> Keyring | None:
    return _state["ring"]


def _aad(field: str, trace_id: str, span_id: str) -> bytes:
    return f"{field}:{trace_id}{span_id}".encode()


def encrypt_value(key: ContentKey, text: str, field: str, trace_id: str, span_id: str) -> bytes:
    if not text:
        return b""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key.key).encrypt(nonce, text.encode(), _aad(field, trace_id, span_id))


class Undecryptable(Exception):
    pass


def decrypt_value(ring: Keyring | None, key_id: str, blob: bytes, field: str, trace_id: str, span_id: str) -> str:
    """The plain text of a stored value; raises Undecryptable with a reason a reader may see."""
    if not blob:
        return ""
    if not key_id:
        return blob.decode("utf-8", "replace")
    key = ring.get(key_id) if ring else None
    if key is None:
        raise Undecryptable(f"encrypted with key {key_id!r}, which this server does not have")
    try:
        plain = AESGCM(key.key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(field, trace_id, span_id))
    except InvalidTag as e:
        raise Undecryptable(f"cannot be decrypted with key {key_id!r} (damaged or moved)") from e
    return plain.decode("utf-8", "replace")


def marker(reason: str) -> str:
    return f"[content unavailable: {reason}]"


# -- reads -------------------------------------------------------------------------------------------

def select_columns(prefix: str = "") -> str:
    """SQL selecting the stored content of ``contents`` (``prefix``: a table alias with its dot) in a
    form JSON output carries (base64), for ``decrypt_row``."""
    return (f"{prefix}key_id AS key_id, base64Encode({prefix}input) AS input, "
            f"base64Encode({prefix}output) AS output")


def decrypt_row(row: dict[str, Any], ring: Keyring | None = None) -> dict[str, Any]:
    """Replace a row's base64 ``input`` / ``output`` (from ``select_columns``) with plain text, in place;
    a value that cannot be read becomes a marker and the row gets ``content_error``."""
    ring = ring if ring is not None else keyring()
    key_id = row.pop("key_id", "") or ""
    for field in FIELDS:
        if field not in row:
            continue
        blob = base64.b64decode(row[field] or "")
        try:
            row[field] = decrypt_value(ring, key_id, blob, field, row.get("trace_id", ""), row.get("span_id", ""))
        except Undecryptable as e:
            row[field] = marker(str(e))
            row["content_error"] = str(e)
    return row


# -- the ingest INSERT ---------------------------------------------------------------------------------

CONTENT_KEY = "{tt_content_key}"
INDEX_KEY = "{tt_index_key}"
KEY_ID = "{tt_key_id}"
NONCE_PREFIX = "{tt_nonce_prefix}"


def insert_columns(source: str) -> dict[str, str]:
    """SQL of the content columns of the ingest INSERT, from the plain-text columns of ``source`` (an
    alias): ``input``, ``output`` encrypted, ``key_id``, ``search_tokens``; keys are placeholders that
    ``bind`` fills per insert. With encryption off: plain text, indexed under ``PLAIN_INDEX_KEY``."""
    text = f"concat({source}.input, ' ', {source}.output)"
    if keyring() is None:
        return {"input": f"{source}.input", "output": f"{source}.output", "key_id": "''",
                "search_tokens": search_index.sql_expr(text, f"unhex('{PLAIN_INDEX_KEY.hex()}')")}
    out = {}
    for n, field in enumerate(FIELDS):
        nonce = (f"concat(unhex('{NONCE_PREFIX}'), "
                 f"reinterpretAsFixedString(toUInt32(rowNumberInAllBlocks() * 2 + {n})))")
        out[field] = (f"if({source}.{field} = '', '', concat({nonce}, encrypt('aes-256-gcm', {source}.{field}, "
                      f"unhex('{CONTENT_KEY}'), {nonce}, concat('{field}:', {source}.trace_id, {source}.span_id))))")
    out["key_id"] = f"'{KEY_ID}'"
    out["search_tokens"] = search_index.sql_expr(text, f"unhex('{INDEX_KEY}')")
    return out


def bind(sql: str, version: datetime) -> str:
    """Fill the key placeholders of an ingest INSERT for the insert of ``version`` (no-op when off)."""
    ring = keyring()
    if ring is None or CONTENT_KEY not in sql:
        return sql
    key = ring.active
    ms = int(version.timestamp() * 1000) if version.tzinfo else int(
        (version - datetime(1970, 1, 1)).total_seconds() * 1000)
    prefix = ms.to_bytes(6, "big") + _PROCESS_SALT
    return (sql.replace(CONTENT_KEY, key.key.hex()).replace(INDEX_KEY, key.index_key.hex())
            .replace(KEY_ID, key.key_id).replace(NONCE_PREFIX, prefix.hex()))


def scrub(message: str, ring: Keyring | None = None) -> str:
    """``message`` (an engine error that may quote the query) without any key material."""
    ring = ring if ring is not None else keyring()
    if ring is None or not message:
        return message
    for k in ring.keys:
        for secret in (k.key, k.index_key):
            for form in (secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode()):
                message = message.replace(form, "[HIDDEN]")
    return message


def python_columns(ring: Keyring | None, rows: Iterable[dict[str, Any]]) -> dict[str, list[Any]]:
    """The stored content columns of plain-text rows (``trace_id``, ``span_id``, ``input``, ``output``)
    encrypted in Python with the active key: for content written outside the ingest INSERT."""
    out: dict[str, list[Any]] = {"input": [], "output": [], "key_id": [], "search_tokens": []}
    for r in rows:
        if ring is None:
            out["input"].append(r["input"].encode())
            out["output"].append(r["output"].encode())
            out["key_id"].append("")
            out["search_tokens"].append(search_index.index(PLAIN_INDEX_KEY, r["input"], r["output"]))
            continue
        key = ring.active
        for field in FIELDS:
            out[field].append(encrypt_value(key, r[field], field, r["trace_id"], r["span_id"]))
        out["key_id"].append(key.key_id)
        out["search_tokens"].append(search_index.index(key.index_key, r["input"], r["output"]))
    return out
