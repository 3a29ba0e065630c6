"""The blind index: keyed hashes of a content row's words, stored beside its ciphertext.

A word (token) is a run of characters between ASCII white space and punctuation, lower-cased
(the engine's ``splitByNonAlpha(lowerUTF8(...))``), 1 to 64 bytes long; each distinct word of the
input and output of a row is stored as ``first 8 bytes (little-endian UInt64) of
AES-256-ECB(index_key, MD5(word))``: one AES block per word, a keyed pseudo-random function nobody
without the key can compute or invert (MD5 only spreads the word over one block; its collisions
would only cause false matches). ``index_key`` is derived from the content key (content_keys.py).

The engine computes it on the ingest hot path (one ``encrypt`` call per row, whose key argument a
ClickHouse server masks in its query log); Python computes the same values for a search query,
for content written from Python (log records) and for rotation. ``tests/encryption`` checks both
give the same hashes.

What it reveals to someone holding the table but not the key: how many distinct words a row has,
and which rows share a word (not which word).
"""

from __future__ import annotations

import hashlib
import re

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MAX_WORD_BYTES = 64
# the engine's splitByNonAlpha separators: ASCII white space and punctuation (except '~')
_SEPARATORS = re.compile(r"[\t\n\x0b\x0c\r !-/:-@\[-`{-}]+")
WORD = re.compile(r"[^\t\n\x0b\x0c\r !-/:-@\[-`{-}]+")  # one word (before lower-casing)


def words(text: str) -> list[str]:
    """The distinct indexed words of ``text``, in order of first appearance."""
    seen: dict[str, None] = {}
    for w in _SEPARATORS.split(text.lower()):
        if w and len(w.encode()) <= MAX_WORD_BYTES:
            seen.setdefault(w, None)
    return list(seen)


def hashes(index_key: bytes, ws: list[str]) -> list[int]:
    if not ws:
        return []
    enc = Cipher(algorithms.AES(index_key), modes.ECB()).encryptor()
    blocks = enc.update(b"".join(hashlib.md5(w.encode()).digest() for w in ws)) + enc.finalize()
    return [int.from_bytes(blocks[16 * i:16 * i + 8], "little") for i in range(len(ws))]


def index(index_key: bytes, *texts: str) -> list[int]:
    """The index of a row whose content is ``texts`` (input, output)."""
    return hashes(index_key, words(" ".join(texts)))


def sql_expr(text_expr: str, key_expr: str) -> str:
    """Engine expression of the index of ``text_expr`` (a String) under ``key_expr`` (32 bytes).
    ``encrypt`` pads with one extra block (dropped); each block's first 8 bytes are kept (the block
    expression is written three times and computed once: the engine merges equal expressions)."""
    toks = (f"arrayFilter(t -> length(t) BETWEEN 1 AND {MAX_WORD_BYTES}, "
            f"arrayDistinct(splitByNonAlpha(lowerUTF8({text_expr}))))")
    blocks = f"reinterpret(encrypt('aes-256-ecb', arrayStringConcat(arrayMap(t -> MD5(t), {toks})), {key_expr}), " \
             "'Array(UInt64)')"
    return f"arrayFilter((h, i) -> i % 2 = 1 AND i < length({blocks}) - 1, {blocks}, arrayEnumerate({blocks}))"
