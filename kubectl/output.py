"""What ``-o`` asks for, and printing objects that way: ``get``'s output formats.

    -o wide | yaml | json | name
    -o jsonpath='{.items[*].metadata.name}'   -o jsonpath-file=FILE
    -o custom-columns=NAME:.metadata.name     -o custom-columns-file=FILE

``parse_output`` reads the flag before any request, so a malformed template is one
``error:`` line and nothing is fetched. ``Output`` then prints answers in that format,
keeping table widths across calls so the rows of a watch line up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from google.protobuf.message import Message

from apimachinery.convert import to_dict
from apimachinery.kinds import KindInfo
from kubectl.context import Context
from kubectl.custom_columns import Column, ColumnsError, parse_file, parse_spec
from kubectl.custom_columns import row as custom_row
from kubectl.errors import CliError
from kubectl.jsonpath import JsonPathError, Template, parse, relaxed
from kubectl.printers import (
    TableOptions,
    TableWriter,
    name_line,
    output_dict,
    table_headers,
    table_row,
    to_json,
    to_yaml,
    without_managed_fields,
)

SIMPLE_FORMATS = ("wide", "yaml", "json", "name")
TEMPLATE_FORMATS = ("jsonpath", "jsonpath-file", "custom-columns", "custom-columns-file")
# A whole answer printed as one document (one object, or a List of them).
DOCUMENT_FORMATS = ("yaml", "json", "jsonpath")


@dataclass(frozen=True)
class OutputFormat:
    """``kind`` is table, wide, yaml, json, name, jsonpath or custom-columns."""

    kind: str = "table"
    template: Template | None = None
    columns: tuple[Column, ...] = ()
    # yaml and json leave out metadata.managedFields unless --show-managed-fields.
    show_managed_fields: bool = False

    @property
    def document(self) -> bool:
        return self.kind in DOCUMENT_FORMATS


def parse_output(value: str | None) -> OutputFormat:
    """The -o flag's value → a format; kubectl's error for an unknown or malformed one."""
    if value is None:
        return OutputFormat()
    name, has_argument, argument = value.partition("=")
    if name in SIMPLE_FORMATS and not has_argument:
        return OutputFormat(name)
    if name not in TEMPLATE_FORMATS:
        allowed = ",".join(sorted((*SIMPLE_FORMATS, *TEMPLATE_FORMATS)))
        raise CliError(f'unable to match a printer suitable for the output format "{value}", '
                       f"allowed formats are: {allowed}")
    if name.endswith("-file"):
        argument = _read_template_file(argument)
    try:
        if name.startswith("jsonpath"):
            if not argument:
                raise CliError("template format specified but no template given")
            return OutputFormat("jsonpath", template=parse(argument))
        columns = parse_file(argument) if name.endswith("-file") else parse_spec(argument)
        return OutputFormat("custom-columns", columns=tuple(columns))
    except (JsonPathError, ColumnsError) as err:
        raise CliError(str(err)) from None


def _read_template_file(path: str) -> str:
    if not path:
        raise CliError("template format specified but no template file given")
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as err:
        raise CliError(f"error reading template file {path}: {err.strerror}") from None


def parse_sort_by(expression: str | None) -> Template | None:
    """``--sort-by=.metadata.name`` (relaxed JSONPath) → a template, or None."""
    if not expression:
        return None
    try:
        return parse(relaxed(expression))
    except JsonPathError as err:
        raise CliError(str(err)) from None


def sort_objects(objects: Sequence[Message], key: Template) -> list[Message]:
    """Objects ordered by the value the path finds in each: numbers by value, text by text;
    an object where it finds nothing comes first."""

    def sort_key(obj: Message) -> tuple[int, Any]:
        values = key.values(to_dict(obj))
        if not values:
            return 0, 0
        value = values[0]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return 1, value
        return 2, str(value)

    try:
        return sorted(objects, key=sort_key)
    except TypeError:  # numbers in some objects, text in others: compare as text
        return sorted(objects, key=lambda obj: str(sort_key(obj)[1]))


class Output:
    """Prints objects in the chosen format, keeping table column widths across calls (for -w)."""

    def __init__(self, ctx: Context, info: KindInfo, output: OutputFormat, options: TableOptions,
                 show_headers: bool = True) -> None:
        self.ctx = ctx
        self.format = output
        self.options = options
        headers = [c.header for c in output.columns] if output.columns else table_headers(info, options)
        self.table = TableWriter(headers, show_headers)
        self.documents_printed = 0

    def show(self, objects: Sequence[Message], as_list: bool) -> None:
        """One answer: a document format as a single object or a List, others line by line."""
        if self.format.document:
            self._show_document(output_dict(objects, as_list))
        else:
            self.show_each(objects)

    def show_each(self, objects: Sequence[Message]) -> None:
        """Objects one at a time, as a watch prints them."""
        if not objects:
            return
        kind = self.format.kind
        if kind == "name":
            self.ctx.print("\n".join(name_line(obj) for obj in objects))
        elif self.format.document:
            for obj in objects:
                self._show_document(to_dict(obj))
        elif kind == "custom-columns":
            rows = [custom_row(list(self.format.columns), to_dict(obj)) for obj in objects]
            self._print_lines(self.table.lines(rows))
        else:
            now = self.ctx.now()
            self._print_lines(self.table.lines(table_row(obj, now, self.options) for obj in objects))

    def _print_lines(self, lines: list[str]) -> None:
        if lines:
            self.ctx.print("\n".join(lines))

    def _show_document(self, data: dict[str, Any]) -> None:
        if self.format.kind == "jsonpath":
            assert self.format.template is not None
            try:
                text = self.format.template.render(data)
            except JsonPathError as err:
                raise CliError(str(err)) from None
            self.ctx.out.write(text)  # kubectl adds no newline: the template says where lines end
            self.ctx.out.flush()
        elif self.format.kind == "json":
            self.ctx.print(to_json(data if self.format.show_managed_fields else without_managed_fields(data)))
        else:
            separator = "---\n" if self.documents_printed else ""
            shown = data if self.format.show_managed_fields else without_managed_fields(data)
            self.ctx.print(separator + to_yaml(shown))
        self.documents_printed += 1
