"""Full-text search over encrypted content, through the blind index (search_index.py).

The query's words are hashed in Python under the index key of every key in the keyring (rows keep
the index of the key that encrypted them until rotation re-indexes them) and matched with
``hasAll``: a trace matches when one of its content rows holds every word (case-insensitive). The
words themselves never reach the store, not even in query text. Results are trace summaries,
newest first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tokentrail.errors import BadRequest
from tokentrail.privacy import search_index
from tokentrail.privacy.content_keys import Keyring
from tokentrail.privacy.encryption import PLAIN_INDEX_KEY
from tokentrail.query import traces
from tokentrail.query.filters import array_param
from tokentrail.storage.backend import Store

MAX_WORDS = 16


def _match(ring: Keyring | None, words: list[str]) -> tuple[str, dict[str, Any]]:
    """SQL condition (and its parameters) of rows holding every word, whatever key indexed them."""
    keys = {"": PLAIN_INDEX_KEY} | ({k.key_id: k.index_key for k in ring.keys} if ring else {})
    conds, params = [], {}
    for i, (key_id, index_key) in enumerate(keys.items()):
        params[f"ct_k{i}"] = key_id
        params[f"ct_h{i}"] = "[" + ",".join(str(h) for h in search_index.hashes(index_key, words)) + "]"
        conds.append(f"(key_id = {{ct_k{i}:String}} AND hasAll(search_tokens, {{ct_h{i}:Array(UInt64)}}))")
    return "(" + " OR ".join(conds) + ")", params


def _words(q: str) -> list[str]:
    words = search_index.words(q)
    if not words:
        raise BadRequest("q needs at least one word (letters or digits) to search for")
    if len(words) > MAX_WORDS:
        raise BadRequest(f"q holds {len(words)} words; at most {MAX_WORDS}")
    return words


def content_match(ring: Keyring | None, q: str) -> traces.ContentMatch:
    """The traces list's text filter (GET /api/traces?q=): content rows holding every word of ``q``."""
    words = _words(q)
    return traces.ContentMatch(*_match(ring, words), words=len(words))


def search(store: Store, ring: Keyring | None, project: str, q: str, since: datetime, until: datetime,
           limit: int = 50) -> dict[str, Any]:
    words = _words(q)
    cond, params = _match(ring, words)
    params.update({"p": project, "lo": since.replace(tzinfo=None).isoformat(sep=" "),
                   "hi": until.replace(tzinfo=None).isoformat(sep=" ")})
    hits = store.query(f"""
        SELECT trace_id, min(start_time) AS t, count() AS spans FROM {store.database}.contents
        WHERE project = {{p:String}} AND start_time >= {{lo:DateTime64(6)}} AND start_time < {{hi:DateTime64(6)}}
          AND {cond}
        GROUP BY trace_id ORDER BY t DESC LIMIT {int(limit)}""", params)
    if not hits:
        return {"traces": [], "matched": 0, "words": len(words), "limit": limit}
    earliest = min(datetime.fromisoformat(h["t"]) for h in hits) - timedelta(hours=1)
    rows = store.query(f"""
        SELECT {traces._TRACE_SUMMARY}
        FROM (SELECT * FROM {store.database}.spans FINAL
              WHERE project = {{p:String}} AND start_time >= {{since:DateTime64(6)}}
                AND trace_id IN {{ids:Array(String)}})
        GROUP BY trace_id ORDER BY min(start_time) DESC
        SETTINGS prefer_column_name_to_alias = 1""",
        {"p": project, "since": earliest.isoformat(sep=" "), "ids": array_param([h["trace_id"] for h in hits])})
    matched = {h["trace_id"]: int(h["spans"]) for h in hits}
    for r in rows:
        r["matching_spans"] = matched.get(r["trace_id"], 0)
    return {"traces": rows, "matched": len(hits), "words": len(words), "limit": limit}
