"""Full-text search over encrypted content, through the blind index (search_index.py).

The query's words are hashed in Python under the index key of every key in the keyring (rows keep
the index of the key that encrypted them until rotation re-indexes them) and matched with
``hasAll``: a trace matches when one of its content rows holds every word (case-insensitive). The
words themselves never reach the store, not even in query text. Results are trace summaries,
newest first.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from tokentrail.errors import BadRequest
from tokentrail.privacy import encryption, search_index
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


SNIPPET_CHARS = 160
# keys of a captured JSON document (chat messages, tool calls) that label its text rather than hold it
_LABEL_KEYS = frozenset({"role", "type", "id", "tool_call_id", "call_id", "index", "object", "model",
                         "finish_reason", "stop_reason", "media_type", "detail"})


def readable(value: str) -> str:
    """The text a person reads in a captured prompt or response: a JSON document's strings (message
    contents, tool arguments), in order, joined by " · "; inline data (a base64 image) as ``[data]``;
    anything else as it is."""
    try:
        doc = json.loads(value)
    except ValueError:
        return value
    parts: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, str):
            if x.startswith("data:") or (len(x) > 512 and " " not in x):
                parts.append("[data]")
            elif x.strip():
                parts.append(x.strip())
        elif isinstance(x, dict):
            for k, v in x.items():
                if k not in _LABEL_KEYS:
                    walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(doc)
    return " · ".join(parts) if parts else value


def snippet(text: str, words: list[str], width: int = SNIPPET_CHARS) -> dict[str, Any] | None:
    """The part of ``text`` around its first word of ``words`` (indexed words: lower case), as ``parts``:
    runs of text, each marked or not (every word of ``words`` in it is marked), and whether text was cut
    before or after it. Runs, not offsets: a browser counts characters differently (UTF-16)."""
    wanted = set(words)
    found = [(m.start(), m.end()) for m in search_index.WORD.finditer(text) if m.group().lower() in wanted]
    if not found:
        return None
    first = found[0][0]
    start = max(0, first - width // 3)
    if start:  # begin at a word
        space = text.find(" ", start, first)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", found[0][1], end)
        end = space if space > 0 else end
    parts, at = [], start
    for a, b in found:
        if a < start or b > end:
            continue
        if a > at:
            parts.append({"text": text[at:a], "mark": False})
        parts.append({"text": text[a:b], "mark": True})
        at = b
    if at < end:
        parts.append({"text": text[at:end], "mark": False})
    return {"parts": parts, "before": start > 0, "after": end < len(text)}


def snippets(store: Store, ring: Keyring | None, project: str, found: list[dict[str, Any]],
             q: str) -> dict[str, dict[str, Any]]:
    """Per trace of ``found`` (trace summaries: ``trace_id``, ``start_time``, ``duration_ms``), where its
    first matching content row holds the words of ``q``: ``{"field": "input" | "output", "span_id", "parts",
    "before", "after"}`` (``snippet``). One query for every trace, reading only the days each trace spans
    (by the contents' key); the rows are decrypted here, never in the engine."""
    if not found:
        return {}
    words = _words(q)
    cond, params = _match(ring, words)
    seen = {}
    for t in found:
        start = traces.utc(str(t["start_time"]))
        seen[t["trace_id"]] = (start, start + timedelta(milliseconds=float(t["duration_ms"] or 0)))
    rows = store.query(f"""
        SELECT trace_id, argMin(tuple(span_id, key_id, base64Encode(input), base64Encode(output)), start_time) AS c
        FROM {store.database}.contents
        WHERE project = {{ct_p:String}} AND trace_id IN {{ct_ids:Array(String)}}
          AND (toDate(start_time), trace_id) IN {{ct_days:Array(Tuple(Date, String))}} AND {cond}
        GROUP BY trace_id""", {**params, "ct_p": project, "ct_ids": array_param(list(seen)),
                               "ct_days": traces.trace_days(seen)})
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        span_id, key_id, value_in, value_out = r["c"]
        row = encryption.decrypt_row({"trace_id": r["trace_id"], "span_id": span_id, "key_id": key_id,
                                      "input": value_in, "output": value_out}, ring)
        if "content_error" in row:
            continue
        for field in ("input", "output"):
            cut = snippet(readable(row[field] or ""), words)
            if cut is not None:
                out[r["trace_id"]] = {"field": field, "span_id": span_id, **cut}
                break
    return out


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
    cuts = snippets(store, ring, project, rows, q)
    for r in rows:
        r["matching_spans"] = matched.get(r["trace_id"], 0)
        r["match"] = cuts.get(r["trace_id"])
    return {"traces": rows, "matched": len(hits), "words": len(words), "limit": limit}
