"""CLI options generated from the one settings table (config.PARAMS)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from tokentrail.config import PARAMS_BY_NAME, Settings


def settings_options(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add ``--name`` options (default: env var, then the table's default) for the named params."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for name in reversed(names):
            p = PARAMS_BY_NAME[name]
            flag = "--" + name.replace("_", "-")
            if p.type is bool:
                fn = click.option(f"{flag}/--no-{name.replace('_', '-')}", name, default=None,
                                  help=f"{p.help} [env {p.env}]")(fn)
            else:
                ptype = click.Path(path_type=Path) if p.type is Path else p.type
                fn = click.option(flag, name, type=ptype, default=None, help=f"{p.help} [env {p.env}]")(fn)
        return fn

    return decorate


def load_settings(values: dict[str, Any]) -> Settings:
    return Settings.load(**{k: v for k, v in values.items() if k in PARAMS_BY_NAME and v is not None})
