"""``pykubectl get TYPE [NAME...]``: show objects as a table, YAML, JSON or names.

    pykubectl get pods                    # a table of the namespace's pods
    pykubectl get deploy web -o yaml      # one object as YAML
    pykubectl get po -A -l app=web -w     # all namespaces, then every change as a row
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Sequence

import grpc
from google.protobuf.message import Message

from apimachinery.convert import to_dict
from apimachinery.kinds import KINDS, KindInfo, resolve_resource, unwrap
from client.api import is_not_found
from kubectl.context import Context
from kubectl.errors import CliError, server_error_line
from kubectl.printers import (
    TableOptions,
    TableWriter,
    name_line,
    output_dict,
    table_headers,
    table_row,
    to_json,
    to_yaml,
)
from kubectl.resources import parse_resource_args
from kubectl.watching import Query, follow, list_objects
from protos import api_pb2

OUTPUT_FORMATS = ("wide", "yaml", "json", "name")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "get", parents=[common], help="Display one or many resources",
        description="Display one or many resources: pods (po), deployments (deploy), replicasets (rs), "
                    "nodes (no), namespaces (ns), events (ev), leases.",
    )
    parser.add_argument("resource", nargs="?", metavar="TYPE[/NAME]", help="resource type, e.g. pods, po, deploy/web")
    parser.add_argument("names", nargs="*", metavar="NAME", help="names of the objects to show")
    parser.add_argument("-o", "--output", choices=OUTPUT_FORMATS, help="output format")
    parser.add_argument("-l", "--selector", default="", help="label selector, e.g. app=web,tier!=db")
    parser.add_argument("--field-selector", default="", help="field selector, e.g. spec.nodeName=node-1")
    parser.add_argument("-w", "--watch", action="store_true", help="after listing, print every change")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="list across all namespaces")
    parser.add_argument("--show-labels", action="store_true", help="add a LABELS column")
    parser.set_defaults(run=run)


class Output:
    """Prints objects in the chosen format, keeping table column widths across calls (for -w)."""

    def __init__(self, ctx: Context, info: KindInfo, output: str | None, options: TableOptions) -> None:
        self.ctx = ctx
        self.format = output or "table"
        self.options = options
        self.table = TableWriter(table_headers(info, options))
        self.documents_printed = 0

    @property
    def structured(self) -> bool:
        return self.format in ("yaml", "json")

    def show(self, objects: Sequence[Message], as_list: bool) -> None:
        """One answer: YAML/JSON as a single object or a List, other formats line by line."""
        if self.format == "yaml":
            self.ctx.print(to_yaml(output_dict(objects, as_list)))
        elif self.format == "json":
            self.ctx.print(to_json(output_dict(objects, as_list)))
        else:
            self.show_each(objects)

    def show_each(self, objects: Sequence[Message]) -> None:
        """Objects one at a time, as a watch prints them."""
        if not objects:
            return
        if self.format == "name":
            self.ctx.print("\n".join(name_line(obj) for obj in objects))
        elif self.structured:
            for obj in objects:
                self._show_document(to_dict(obj))
        else:
            now = self.ctx.now()
            self.ctx.print("\n".join(self.table.lines(table_row(obj, now, self.options) for obj in objects)))

    def _show_document(self, data: dict[str, Any]) -> None:
        if self.format == "json":
            self.ctx.print(to_json(data))
            return
        separator = "---\n" if self.documents_printed else ""
        self.ctx.print(separator + to_yaml(data))
        self.documents_printed += 1


def run(args: argparse.Namespace, ctx: Context) -> int:
    if not args.resource:
        raise CliError(f"You must specify the type of resource to get. Valid resource types include: {_known_types()}")
    infos, names = _resource_types(args.resource, args.names)
    _check_flags(args, names, several_kinds=len(infos) > 1)
    if args.watch:
        return _watch(ctx, _query(args, ctx, infos[0]), names, _output(args, ctx, infos[0], with_kind=False))
    return _get_and_show(ctx, args, infos, names)


def _resource_types(resource: str, names: Sequence[str]) -> tuple[list[KindInfo], list[str]]:
    """``deploy,rs`` (several kinds), ``deploy web`` or ``deploy/web``."""
    if "," in resource and "/" not in resource:
        return [resolve_resource(word) for word in resource.split(",") if word], list(names)
    info, names = parse_resource_args(resource, names)
    return [info], names


def _known_types() -> str:
    return ", ".join(f"{k.plural} ({k.short_names[0]})" if k.short_names else k.plural for k in KINDS)


def _check_flags(args: argparse.Namespace, names: Sequence[str], several_kinds: bool) -> None:
    if names and args.all_namespaces:
        raise CliError("a resource cannot be retrieved by name across all namespaces")
    if names and args.selector:
        raise CliError("name cannot be provided when a selector is specified")
    if args.watch and several_kinds:
        raise CliError("you may only specify a single resource type")
    if names and args.watch and len(names) > 1:
        raise CliError(
            "watch is only supported on individual resources and resource collections, "
            f"but {len(names)} resources were found"
        )


def _query(args: argparse.Namespace, ctx: Context, info: KindInfo) -> Query:
    namespace = ctx.namespace if info.namespaced and not args.all_namespaces else ""
    return Query(info, namespace, args.selector, args.field_selector)


def _output(args: argparse.Namespace, ctx: Context, info: KindInfo, with_kind: bool) -> Output:
    options = TableOptions(wide=args.output == "wide", with_namespace=args.all_namespaces and info.namespaced,
                           show_labels=args.show_labels, with_kind=with_kind)
    return Output(ctx, info, args.output, options)


def no_resources_message(namespace: str) -> str:
    return f"No resources found in {namespace} namespace." if namespace else "No resources found"


def _get(ctx: Context, query: Query, name: str) -> Message:
    request = api_pb2.GetRequest(kind=query.info.kind, namespace=query.namespace, name=name)
    return unwrap(ctx.api.Get(request))


def _fetch_named(ctx: Context, query: Query, names: Sequence[str]) -> tuple[list[Message], list[str]]:
    """The named objects that exist, and an error line for each that does not."""
    found: list[Message] = []
    errors: list[str] = []
    for name in names:
        try:
            found.append(_get(ctx, query, name))
        except grpc.RpcError as err:
            if not is_not_found(err):
                raise
            errors.append(server_error_line(err))
    return found, errors


def _get_and_show(ctx: Context, args: argparse.Namespace, infos: Sequence[KindInfo], names: Sequence[str]) -> int:
    """Fetch (by name or by listing) each kind, print, then report the missing names (exit 1)."""
    results: list[tuple[KindInfo, list[Message]]] = []
    errors: list[str] = []
    for info in infos:
        query = _query(args, ctx, info)
        if names:
            found, missing = _fetch_named(ctx, query, names)
            errors.extend(missing)
        else:
            found, _ = list_objects(ctx.api, query)
        results.append((info, found))
    anything = any(objects for _, objects in results)
    structured = args.output in ("yaml", "json")
    if structured and (anything or not names):
        everything = [obj for _, objects in results for obj in objects]
        _output(args, ctx, infos[0], with_kind=False).show(everything, as_list=len(infos) > 1 or len(names) != 1)
    elif not structured:
        _show_tables(ctx, args, results)
    if not names and not anything and not structured:
        namespaced = any(info.namespaced for info in infos) and not args.all_namespaces
        ctx.warn(no_resources_message(ctx.namespace if namespaced else ""))
    for line in errors:
        ctx.warn(line)
    return 1 if errors else 0


def _show_tables(ctx: Context, args: argparse.Namespace, results: Sequence[tuple[KindInfo, list[Message]]]) -> None:
    """One table per kind; with several kinds, names carry their kind and tables a blank line between."""
    several = len(results) > 1
    printed = False
    for info, objects in results:
        if not objects:
            continue
        if printed and args.output != "name":
            ctx.print("")
        _output(args, ctx, info, with_kind=several).show_each(objects)
        printed = True


def _watch(ctx: Context, query: Query, names: Sequence[str], output: Output) -> int:
    """List, print, then print every change until Ctrl-C (exit 0)."""
    if names:
        _get(ctx, query, names[0])  # a missing object is an error, as without -w
        selectors = [s for s in (query.field_selector, f"metadata.name={names[0]}") if s]
        query = dataclasses.replace(query, field_selector=",".join(selectors))
    try:
        objects, resource_version = list_objects(ctx.api, query)
        if objects:
            output.show_each(objects)
        elif not output.structured:
            ctx.warn(no_resources_message(query.namespace))
        for _event_type, obj in follow(ctx.api, query, objects, resource_version):
            output.show_each([obj])
    except KeyboardInterrupt:
        pass
    return 0
