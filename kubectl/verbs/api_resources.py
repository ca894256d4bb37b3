"""``pykubectl api-resources``: the resource types the server serves, from its discovery.

    NAME          SHORTNAMES   APIVERSION               NAMESPACED   KIND
    events        ev           v1                       true         Event
    deployments   deploy       apps/v1                  true         Deployment

Sorted like kubectl's: the core group first, then by group, then by name. ``-o wide``
adds the VERBS, ``-o name`` prints ``deployments.apps``; ``--namespaced``,
``--api-group`` and ``--no-headers`` work as in kubectl.
"""

from __future__ import annotations

import argparse
from typing import Any

from kubectl.context import Context
from kubectl.printers import TableWriter
from protos import api_pb2

HEADERS = ("NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND")


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"invalid boolean value: '{text}'")
    return text.lower() == "true"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "api-resources", parents=[common], help="Print the supported API resources on the server",
        description="Print the resource types the apiserver serves.",
    )
    parser.add_argument("--namespaced", type=_bool, default=None, metavar="BOOL",
                        help="true: only namespaced resources; false: only cluster-scoped ones")
    parser.add_argument("--api-group", default=None, metavar="GROUP",
                        help='only resources of this API group ("" for the core group)')
    parser.add_argument("-o", "--output", choices=("wide", "name"), help="wide: add VERBS; name: names only")
    parser.add_argument("--no-headers", action="store_true", help="print the table without its header line")
    parser.set_defaults(run=run)


def group(resource: api_pb2.APIResource) -> str:
    return resource.api_version.rpartition("/")[0]


def run(args: argparse.Namespace, ctx: Context) -> int:
    resources = ctx.api.Discovery(api_pb2.DiscoveryRequest()).resources
    chosen = sorted(
        (r for r in resources
         if (args.namespaced is None or r.namespaced == args.namespaced)
         and (args.api_group is None or group(r) == args.api_group)),
        key=lambda r: (group(r) != "", group(r), r.name),
    )
    if args.output == "name":
        for r in chosen:
            ctx.print(f"{r.name}.{group(r)}" if group(r) else r.name)
        return 0
    wide = args.output == "wide"
    table = TableWriter([*HEADERS, *(("VERBS",) if wide else ())], show_headers=not args.no_headers)
    rows = [[r.name, ",".join(r.short_names), r.api_version, str(r.namespaced).lower(), r.kind,
             *(("[" + " ".join(r.verbs) + "]",) if wide else ())] for r in chosen]
    lines = table.lines(rows)
    if lines:
        ctx.print("\n".join(lines))
    return 0
