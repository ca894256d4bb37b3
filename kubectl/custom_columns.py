"""``-o custom-columns=NAME:.metadata.name,NODE:.spec.nodeName`` and ``-o custom-columns-file``.

Each column is a header and a JSONPath (in kubectl's relaxed form: ``.metadata.name``,
``metadata.name`` and ``{.metadata.name}`` are the same). A cell shows every value the
path finds, comma-separated, or ``<none>`` when it finds nothing. The table is aligned
like every other kubectl table.

A file holds two lines: the headers, then the paths, each separated by spaces::

    NAME          IMAGE
    .metadata.name .spec.containers[0].image
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubectl.jsonpath import JsonPathError, Template, parse, relaxed, to_text

NONE = "<none>"


class ColumnsError(ValueError):
    """A custom-columns spec kubectl would refuse."""


@dataclass(frozen=True)
class Column:
    header: str
    path: Template


def _column(header: str, expression: str) -> Column:
    try:
        return Column(header, parse(relaxed(expression)))
    except JsonPathError as err:
        raise ColumnsError(str(err)) from None


def parse_spec(spec: str) -> list[Column]:
    """``NAME:.metadata.name,STATUS:.status.phase`` → columns."""
    if not spec:
        raise ColumnsError("custom-columns format specified but no custom columns given")
    columns = []
    for part in spec.split(","):
        pieces = part.split(":")
        if len(pieces) != 2 or not pieces[0] or not pieces[1]:
            raise ColumnsError(f"unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>")
        columns.append(_column(*pieces))
    return columns


def parse_file(text: str) -> list[Column]:
    """The two lines of a custom-columns file → columns."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        raise ColumnsError("invalid template, missing header line. Expected format is one line of space "
                           "separated headers, one line of space separated column specs.")
    headers, paths = lines[0].split(), lines[1].split()
    if len(headers) != len(paths):
        raise ColumnsError(f"number of headers ({len(headers)}) does not match number of specs ({len(paths)})")
    return [_column(header, path) for header, path in zip(headers, paths)]


def row(columns: list[Column], data: dict[str, Any]) -> list[str]:
    """One object's cells."""
    cells = []
    for column in columns:
        values = column.path.values(data)
        cells.append(",".join(to_text(value) for value in values) if values else NONE)
    return cells
