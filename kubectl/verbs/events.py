"""``pykubectl events``: the namespace's events, oldest first, as ``kubectl events`` shows them.

    LAST SEEN        TYPE     REASON      OBJECT          MESSAGE
    2m               Normal   Scheduled   Pod/web-x7k2p   Successfully assigned default/web-x7k2p to n1
    30s (x4 over 2m) Warning  BackOff     Pod/crash-abc   Back-off restarting failed container

Unlike ``get events`` (LAST SEEN is lastTimestamp's age, OBJECT is ``pod/x``), kubectl's
events command shows a repeated event's count and span and the involved object's Kind as
it is spelled. ``--for=pod/web`` narrows to one object (a server-side field selector),
``--types=Warning`` to some types, ``-A`` to every namespace, ``-w`` keeps printing.
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

from apimachinery.kinds import kind_info, resolve_resource
from apimachinery.tables.cells import event_interval
from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.printers import TableWriter
from kubectl.watching import DELETED, Query, follow, list_objects
from protos import core_pb2

HEADERS = ("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")
EVENT_TYPES = ("Normal", "Warning")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "events", parents=[common], help="List events",
        description="List the events of a namespace (or all, with -A), oldest first.",
    )
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="events of every namespace")
    parser.add_argument("--for", dest="for_", default="", metavar="TYPE/NAME",
                        help="only the events about this object, e.g. pod/web")
    parser.add_argument("--types", default="", metavar="TYPE,...", help="only these types: Normal, Warning")
    parser.add_argument("-w", "--watch", action="store_true", help="after listing, print every new event")
    parser.add_argument("--no-headers", action="store_true", help="print the table without its header line")
    parser.set_defaults(run=run)


def _field_selector(for_: str) -> str:
    if not for_:
        return ""
    kind, slash, name = for_.partition("/")
    if not slash or not kind or not name:
        raise CliError(f"--for must be in resource/name form, got {for_!r}")
    return f"involvedObject.kind={resolve_resource(kind).kind},involvedObject.name={name}"


def _types(text: str) -> set[str]:
    if not text:
        return set(EVENT_TYPES)
    chosen = set()
    for word in text.split(","):
        match = next((t for t in EVENT_TYPES if t.lower() == word.strip().lower()), None)
        if match is None:
            raise CliError(f"valid --types are {' or '.join(EVENT_TYPES)}, got {word!r}")
        chosen.add(match)
    return chosen


def sort_key(event: core_pb2.Event) -> tuple[int, int]:
    """When it last happened: lastTimestamp, else firstTimestamp, else when it was written."""
    for stamp in (event.last_timestamp, event.first_timestamp, event.metadata.creation_timestamp):
        if stamp.seconds or stamp.nanos:
            return stamp.seconds, stamp.nanos
    return 0, 0


def event_row(event: core_pb2.Event, now: Any, with_namespace: bool) -> list[str]:
    involved = event.involved_object
    row = [event_interval(event, now), event.type, event.reason, f"{involved.kind}/{involved.name}",
           event.message.strip()]
    return [event.metadata.namespace, *row] if with_namespace else row


def run(args: argparse.Namespace, ctx: Context) -> int:
    types = _types(args.types)
    namespace = "" if args.all_namespaces else ctx.namespace
    query = Query(kind_info("Event"), namespace, field_selector=_field_selector(args.for_))
    headers = ["NAMESPACE", *HEADERS] if args.all_namespaces else list(HEADERS)
    table = TableWriter(headers, show_headers=not args.no_headers)

    def show(events: Sequence[core_pb2.Event]) -> None:
        chosen = sorted((e for e in events if e.type in types), key=sort_key)
        if chosen:
            now = ctx.now()
            ctx.print("\n".join(table.lines(event_row(e, now, args.all_namespaces) for e in chosen)))

    events, resource_version = list_objects(ctx.api, query)
    if not any(e.type in types for e in events) and not args.watch:
        ctx.warn(f"No events found in {namespace} namespace." if namespace else "No events found.")
        return 0
    show(events)
    if args.watch:
        try:
            for event_type, event in follow(ctx.api, query, events, resource_version):
                if event_type != DELETED:
                    show([event])
        except KeyboardInterrupt:
            pass
    return 0
