"""``pykubectl get TYPE [NAME...]``: show objects as a table, YAML, JSON, names or templates.

    pykubectl get pods                    # a table of the namespace's pods
    pykubectl get deploy web -o yaml      # one object as YAML
    pykubectl get po -A -l app=web -w     # all namespaces, then every change as a row
    pykubectl get po -o jsonpath='{.items[*].metadata.name}'
    pykubectl get po -o custom-columns=NAME:.metadata.name,NODE:.spec.nodeName --sort-by=.spec.nodeName
    pykubectl get all                     # pods, deployments and replica sets, names as kind/name
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Sequence

import grpc
from google.protobuf.message import Message

from apimachinery.kinds import KINDS, KindInfo, kind_info, resolve_resource, unwrap
from client.api import is_not_found
from kubectl.context import Context
from kubectl.errors import CliError, server_error_line
from kubectl.output import Output, OutputFormat, parse_output, parse_sort_by, sort_objects
from kubectl.printers import TableOptions
from kubectl.resources import parse_resource_args
from kubectl.verbs.options import no_resources_found
from kubectl.watching import Query, follow, list_objects
from protos import api_pb2

# kubectl's "all" category, for the kinds pykube serves, in kubectl's order.
ALL_KINDS = ("Pod", "Service", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet", "CronJob", "Job")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "get", parents=[common], help="Display one or many resources",
        description="Display one or many resources: pods (po), deployments (deploy), replicasets (rs), "
                    "daemonsets (ds), statefulsets (sts), "
                    "nodes (no), namespaces (ns), events (ev), leases.",
    )
    parser.add_argument("resource", nargs="?", metavar="TYPE[/NAME]", help="resource type, e.g. pods, po, deploy/web")
    parser.add_argument("names", nargs="*", metavar="NAME", help="names of the objects to show")
    parser.add_argument("-o", "--output", metavar="FORMAT",
                        help="wide, yaml, json, name, jsonpath=TEMPLATE, jsonpath-file=FILE, "
                             "custom-columns=HEADER:PATH,..., custom-columns-file=FILE")
    parser.add_argument("--show-managed-fields", action="store_true",
                        help="keep metadata.managedFields in -o yaml and -o json")
    parser.add_argument("--no-headers", action="store_true", help="print tables without their header line")
    parser.add_argument("--sort-by", metavar="JSONPATH", help="sort by the value of this field, e.g. .metadata.name")
    parser.add_argument("-l", "--selector", default="", help="label selector, e.g. app=web,tier!=db")
    parser.add_argument("--field-selector", default="", help="field selector, e.g. spec.nodeName=node-1")
    parser.add_argument("-w", "--watch", action="store_true", help="after listing, print every change")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="list across all namespaces")
    parser.add_argument("--show-labels", action="store_true", help="add a LABELS column")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if not args.resource:
        raise CliError(f"You must specify the type of resource to get. Valid resource types include: {_known_types()}")
    # Read -o and --sort-by before any request: a malformed template fetches nothing.
    args.format = dataclasses.replace(parse_output(args.output), show_managed_fields=args.show_managed_fields)
    args.sort_key = parse_sort_by(args.sort_by)
    infos, names = _resource_types(args.resource, args.names)
    _check_flags(args, names, several_kinds=len(infos) > 1)
    if args.watch:
        return _watch(ctx, _query(args, ctx, infos[0]), names, _output(args, ctx, infos[0], with_kind=False))
    return _get_and_show(ctx, args, infos, names)


def _resource_types(resource: str, names: Sequence[str]) -> tuple[list[KindInfo], list[str]]:
    """``deploy,rs`` (several kinds), ``all``, ``deploy web`` or ``deploy/web``."""
    if resource == "all":
        return [kind_info(kind) for kind in ALL_KINDS], list(names)
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
    output_format: OutputFormat = args.format
    options = TableOptions(wide=output_format.kind == "wide",
                           with_namespace=args.all_namespaces and info.namespaced,
                           show_labels=args.show_labels, with_kind=with_kind)
    return Output(ctx, info, output_format, options, show_headers=not args.no_headers)


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
        results.append((info, sort_objects(found, args.sort_key) if args.sort_key else found))
    anything = any(objects for _, objects in results)
    structured = args.format.document
    if structured and (anything or not names):
        everything = [obj for _, objects in results for obj in objects]
        if args.sort_key and len(results) > 1:
            everything = sort_objects(everything, args.sort_key)
        _output(args, ctx, infos[0], with_kind=False).show(everything, as_list=len(infos) > 1 or len(names) != 1)
    elif not structured:
        _show_tables(ctx, args, results)
    if not names and not anything and not structured:
        namespaced = any(info.namespaced for info in infos) and not args.all_namespaces
        ctx.warn(no_resources_found(ctx.namespace if namespaced else ""))
    for line in errors:
        ctx.warn(line)
    return 1 if errors else 0


def _show_tables(ctx: Context, args: argparse.Namespace, results: Sequence[tuple[KindInfo, list[Message]]]) -> None:
    """One table per kind; with several kinds, names carry their kind and tables a blank line between."""
    several = len(results) > 1
    if args.format.kind == "custom-columns":  # one table: the columns are the same for every kind
        _output(args, ctx, results[0][0], with_kind=False).show_each([o for _, objects in results for o in objects])
        return
    printed = False
    for info, objects in results:
        if not objects:
            continue
        if printed and args.format.kind != "name":
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
        elif not output.format.document:
            ctx.warn(no_resources_found(query.namespace))
        for _event_type, obj in follow(ctx.api, query, objects, resource_version):
            output.show_each([obj])
    except KeyboardInterrupt:
        pass
    return 0
