"""Named-query results shared by the rules of one evaluation round.

Rules of one project often ask the store the same question in the same round: the same hourly series
per route for the seasonal baselines of several anomaly metrics, the same model breakdown for a silent
and an unpriced model rule. While a round is open (``sharing()``, the evaluator opens one per round),
a named query called again with the same arguments answers from memory; outside a round (previews,
replays, tests) every call goes to the store. Results are shared: callers must not change them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")
_round: ContextVar[dict[Any, Any] | None] = ContextVar("tokentrail_alert_round", default=None)


@contextmanager
def sharing() -> Iterator[dict[Any, Any]]:
    """Open a round: named queries through :func:`call` are shared until it closes."""
    memo: dict[Any, Any] = {}
    token = _round.set(memo)
    try:
        yield memo
    finally:
        _round.reset(token)


def _freeze(v: Any) -> Any:
    if is_dataclass(v) and not isinstance(v, type):
        return (type(v).__name__, *((f.name, _freeze(getattr(v, f.name))) for f in fields(v)))
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, list | tuple):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, set | frozenset):
        return tuple(sorted(_freeze(x) for x in v))
    if isinstance(v, datetime):
        return v.isoformat()
    return v


def _key(fn: Callable[..., Any], store: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return (fn.__module__, fn.__qualname__, id(store), _freeze(args), _freeze(kwargs))


def put(value: Any, fn: Callable[..., Any], store: Any, *args: Any, **kwargs: Any) -> None:
    """Record ``value`` as this round's answer to ``fn(store, *args, **kwargs)`` (worked out ahead,
    e.g. many rules' answers in one query); nothing outside a round."""
    memo = _round.get()
    if memo is not None:
        memo[_key(fn, store, args, kwargs)] = value


def call(fn: Callable[..., T], store: Any, *args: Any, **kwargs: Any) -> T:
    """``fn(store, *args, **kwargs)``, answered from this round's memory when asked before."""
    memo = _round.get()
    if memo is None:
        return fn(store, *args, **kwargs)
    key = _key(fn, store, args, kwargs)
    if key not in memo:
        memo[key] = fn(store, *args, **kwargs)
    return memo[key]  # type: ignore[no-any-return]
