"""What a column of ``get``'s table is (:class:`Column`), a kind's table (:class:`TableSpec`),
and the columns and descriptions many kinds share.

A column carries what Kubernetes' ``metav1.TableColumnDefinition`` carries: the name in
title case as the server sends it ("Nominated Node"; kubectl upper-cases it for the header),
a type (string, integer, date), a format (``name`` for the object's name), a priority
(0 always shown, 1 only with ``-o wide``) and a description (the field's API documentation).
A row always has a cell for every column, wide or not, as the server generates it; the
printer leaves out priority-1 columns unless asked for ``-o wide``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Callable, Union

Cell = Union[str, int]
RowFunction = Callable[[Any, datetime.datetime], list[Cell]]


@dataclass(frozen=True)
class Column:
    name: str  # as the server sends it: "Nominated Node"
    type: str = "string"  # string, integer, date (the OpenAPI type of the cells)
    description: str = ""
    priority: int = 0  # 0: always shown; 1: only with -o wide
    format: str = ""  # "name": the object's name (kubectl prefixes it with the kind)

    @property
    def header(self) -> str:
        """What kubectl prints over the column: the name upper-cased."""
        return self.name.upper()

    def definition(self) -> dict[str, Any]:
        """The column as a meta.k8s.io/v1 TableColumnDefinition."""
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


@dataclass(frozen=True)
class TableSpec:
    columns: tuple[Column, ...]
    row: RowFunction  # every column's cell, wide or not

    def shown(self, wide: bool) -> list[int]:
        """The indexes of the columns a printer shows: all with -o wide, else priority 0."""
        return [i for i, column in enumerate(self.columns) if wide or column.priority == 0]

    def name_column(self) -> int | None:
        """The column kubectl prefixes with the kind (``deployment.apps/web``) for several kinds."""
        return next((i for i, c in enumerate(self.columns) if c.format == "name" and c.type == "string"), None)


# ------------------------------------------------- Kubernetes' descriptions

NAME = ("Name must be unique within a namespace. Is required when creating resources, although some resources "
        "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
        "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
CREATION_TIMESTAMP = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this value. "
    "It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
CONTAINERS = "Names of each container in the template."
IMAGES = "Images referenced by each container in the template."

NAME_COLUMN = Column("Name", format="name", description=NAME)
AGE_COLUMN = Column("Age", description=CREATION_TIMESTAMP)


def wide_column(name: str, description: str) -> Column:
    return Column(name, description=description, priority=1)
