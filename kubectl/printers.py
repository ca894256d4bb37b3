"""What ``pykubectl get`` prints: kubectl's tables, and objects as YAML, JSON or names.

The columns and their cells are not defined here: they live in :mod:`apimachinery.tables`,
shared with the apiserver, which answers the real kubectl's ``get`` with the same columns as
a meta.k8s.io/v1 Table. This module prints them the way kubectl prints such a Table: the
column names upper-cased, priority-1 columns only with ``-o wide``, NAMESPACE first with
``-A``, LABELS last with ``--show-labels``, aligned by Go's tabwriter settings.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import yaml
from google.protobuf.message import Message

from apimachinery.convert import to_dict
from apimachinery.kinds import KindInfo, info_of
from apimachinery.tables import cell_text, table_spec
from apimachinery.tables.cells import format_labels
from kubectl.resources import object_ref


@dataclass(frozen=True)
class TableOptions:
    wide: bool = False
    with_namespace: bool = False  # -A on a namespaced kind: NAMESPACE comes first
    show_labels: bool = False
    with_kind: bool = False  # several kinds in one get: NAME becomes deployment.apps/web


def table_headers(info: KindInfo, options: TableOptions) -> list[str]:
    spec = table_spec(info.kind)
    headers = [spec.columns[i].header for i in spec.shown(options.wide)]
    return _decorate(headers, "NAMESPACE", "LABELS", options)


def table_row(obj: Message, now: datetime.datetime, options: TableOptions) -> list[str]:
    """One object's row: its kind's cells, shown as kubectl shows a server's Table row."""
    spec = table_spec(info_of(obj).kind)
    cells = spec.row(obj, now)
    name_column = spec.name_column()
    if options.with_kind and name_column is not None:
        cells[name_column] = object_ref(obj)
    texts = [cell_text(cells[i]) for i in spec.shown(options.wide)]
    return _decorate(texts, obj.metadata.namespace, format_labels(obj.metadata.labels), options)


def _decorate(cells: list[str], namespace: str, labels: str, options: TableOptions) -> list[str]:
    if options.with_namespace:
        cells = [namespace, *cells]
    if options.show_labels:
        cells = [*cells, labels]
    return cells


# Go's tabwriter as kubectl configures it: cells padded to the widest plus 3, at least 6.
COLUMN_PADDING = 3
MIN_COLUMN_WIDTH = 6


class TableWriter:
    """Aligns rows into columns; remembers widths so later rows (a watch) line up with earlier ones."""

    def __init__(self, headers: Sequence[str], show_headers: bool = True) -> None:
        self.headers = list(headers)
        self.widths: list[int] = [0] * len(headers)
        self.header_written = not show_headers  # --no-headers: as if it had been written

    def lines(self, rows: Iterable[Sequence[str]]) -> list[str]:
        """The text lines for rows, preceded by the header the first time (unless --no-headers)."""
        batch = [list(row) for row in rows]
        if not self.header_written:
            batch.insert(0, self.headers)
            self.header_written = True
        for row in batch:
            for column, cell in enumerate(row[:-1]):
                self.widths[column] = max(self.widths[column], MIN_COLUMN_WIDTH, len(cell) + COLUMN_PADDING)
        return [self._line(row) for row in batch]

    def _line(self, row: Sequence[str]) -> str:
        padded = [cell.ljust(self.widths[column]) for column, cell in enumerate(row[:-1])]
        return "".join(padded) + (row[-1] if row else "")


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A whole table as kubectl prints it, ending with a newline."""
    return "".join(line + "\n" for line in TableWriter(headers).lines(rows))


# ---------------------------------------------------- yaml, json and names


def list_dict(objects: Sequence[Message]) -> dict[str, Any]:
    """Several objects the way ``kubectl get -o yaml`` wraps them."""
    return {"apiVersion": "v1", "items": [to_dict(obj) for obj in objects], "kind": "List",
            "metadata": {"resourceVersion": ""}}


def output_dict(objects: Sequence[Message], as_list: bool) -> dict[str, Any]:
    return list_dict(objects) if as_list or len(objects) != 1 else to_dict(objects[0])


def without_managed_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The document without ``metadata.managedFields`` (its own and its items'), as kubectl
    prints yaml and json unless ``--show-managed-fields``: the field owners are server
    bookkeeping, long and rarely what a reader is after."""
    if "items" in data and isinstance(data["items"], list):
        return {**data, "items": [without_managed_fields(item) if isinstance(item, dict) else item
                                  for item in data["items"]]}
    meta = data.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return data
    return {**data, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def to_yaml(data: dict[str, Any]) -> str:
    # kubectl's YAML has its keys sorted, which puts apiVersion, kind, metadata, spec, status in order.
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False, allow_unicode=True)


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=4, ensure_ascii=False) + "\n"


def name_line(obj: Message) -> str:
    """``deployment.apps/web``, as ``-o name`` prints it."""
    return object_ref(obj)
