"""The one Jinja2 setup every part of the report renders with: its templates folder, autoescape on, and
StrictUndefined so a missing figure fails the render instead of printing an empty cell."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


def new_environment(filters: dict[str, Callable[..., Any]]) -> Environment:
    env = Environment(
        loader=PackageLoader("bastion.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters)
    return env
