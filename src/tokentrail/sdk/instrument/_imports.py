"""Run a callback when a module is imported (or at once if it already is), without importing it ourselves.

``init()`` must not import client libraries the app does not use (``import anthropic``
alone takes seconds), yet should instrument them whenever the app imports them, before
or after ``init()``. A ``sys.meta_path`` finder wraps the loader of the watched top-level
modules so the callback runs right after the module's code.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from tokentrail.sdk._guard import internal_error

_HOOKS: dict[str, list[Callable[[ModuleType], None]]] = {}
_LOCK = threading.Lock()
_BUSY = threading.local()


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: Any, name: str) -> None:
        self._loader, self._name = loader, name

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _run(self._name, module)

    def __getattr__(self, name: str) -> Any:  # resource readers, is_package ...
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in _HOOKS or getattr(_BUSY, "name", None) == fullname:
            return None
        _BUSY.name = fullname
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            _BUSY.name = None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _Loader(spec.loader, fullname)
        return spec


_FINDER = _Finder()


def _run(name: str, module: ModuleType) -> None:
    with _LOCK:
        hooks = _HOOKS.pop(name, [])
    for hook in hooks:
        try:
            hook(module)
        except Exception:
            internal_error(f"instrumenting {name} on import", reraise=False)


def when_imported(name: str, hook: Callable[[ModuleType], None]) -> None:
    """Call ``hook(module)`` now if ``name`` is imported, else right after the app imports it (once)."""
    module = sys.modules.get(name)
    if module is not None:
        hook(module)
        return
    with _LOCK:
        _HOOKS.setdefault(name, []).append(hook)
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)
