"""Command-line flags whose defaults come from a config dataclass.

``duration_arg`` is the argparse type of every duration flag (``--timeout=1m30s``).

A component's settings live on a dataclass (ServerConfig, ManagerConfig,
KubeletConfig...), and that is the one place a default is written. A flag for a
field takes the field's default from there, and says it in --help:

    add_config_flag(parser, "--watch-history", ServerConfig, "watch_history", metavar="N",
                    help="changes kept for watch replay")
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from apimachinery.duration import parse_duration


def field_default(config_class: type, name: str) -> Any:
    """The default the dataclass declares for the field `name` (a fresh one when it
    has a default_factory)."""
    for f in dataclasses.fields(config_class):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            raise ValueError(f"{config_class.__name__}.{name} has no default")
    raise ValueError(f"{config_class.__name__} has no field {name!r}")


def add_config_flag(parser: argparse.ArgumentParser, flag: str, config_class: type, name: str,
                    help: str = "", **kwargs: Any) -> argparse.Action:
    """parser.add_argument(flag) with the default of config_class's field `name`; the
    value's type is the default's (int, float, str) unless `type` is given, and the
    help ends with "(default ...)"."""
    default = field_default(config_class, name)
    if "type" not in kwargs and isinstance(default, (int, float, str)) and not isinstance(default, bool):
        kwargs["type"] = type(default)
    text = f"{help} (default %(default)s)" if help else "default %(default)s"
    return parser.add_argument(flag, default=default, help=text, **kwargs)


def duration_arg(text: str) -> float:
    """Seconds, from "30", "30s", "1m30s", "500ms" (argparse type of a duration flag)."""
    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def non_negative_duration_arg(text: str) -> float:
    seconds = duration_arg(text)
    if seconds < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return seconds


def bool_arg(text: str) -> bool:
    """A boolean flag's value, as Kubernetes' flags take it: ``--allocate-node-cidrs=false``
    (and ``--allocate-node-cidrs`` alone for true, with nargs="?" and const=True)."""
    value = text.strip().lower()
    if value in ("true", "t", "1"):
        return True
    if value in ("false", "f", "0"):
        return False
    raise argparse.ArgumentTypeError(f'invalid boolean value "{text}"')
