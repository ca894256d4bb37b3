"""``pykubectl apply -f FILE|DIR|-``: create or update objects from manifests.

All manifests are loaded and converted first, then sent in ONE Apply call, so the
server validates every object before it writes any. Prints kubectl's lines::

    deployment.apps/web created
    namespace/team-a unchanged
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

import grpc
from google.protobuf.message import Message

from apimachinery.kinds import info_of, unwrap, wrap
from kubectl.context import Context
from kubectl.errors import CliError, is_not_found
from kubectl.manifest import load_objects
from kubectl.resources import object_ref, set_default_namespace
from kubectl.verbs.options import add_dry_run_flag, add_filename_flags, dry_run_suffix
from protos import api_pb2

FIELD_MANAGER = "kubectl"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "apply", parents=[common], help="Apply a configuration to resources by file name or stdin",
        description="Create or update the objects in the given manifests, all in one request.",
    )
    add_filename_flags(parser, "apply")
    add_dry_run_flag(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if not args.filename:
        raise CliError("must specify one of -f and -k")
    objects = load_objects(args.filename, args.recursive, ctx.stdin)
    if not objects:
        raise CliError("no objects passed to apply")
    set_default_namespace(objects, ctx.namespace, enforce=ctx.settings.namespace_from_flag)
    if args.dry_run == "client":
        results = _client_dry_run(ctx, objects)
    else:
        results = _apply(ctx, objects, dry_run=args.dry_run == "server")
    suffix = dry_run_suffix(args.dry_run)
    for obj, action in results:
        ctx.print(f"{object_ref(obj)} {action}{suffix}")
    return 0


def _apply(ctx: Context, objects: Sequence[Message], dry_run: bool) -> list[tuple[Message, str]]:
    request = api_pb2.ApplyRequest(
        objects=[wrap(obj) for obj in objects], dry_run=dry_run, field_manager=FIELD_MANAGER
    )
    response = ctx.api.Apply(request)
    results = []
    for sent, result in zip(objects, response.results):
        # The server's copy carries a generated name, if any; fall back to what was sent.
        returned = unwrap(result.object) if result.object.WhichOneof("kind") else sent
        results.append((returned if returned.metadata.name else sent, result.action))
    return results


def _client_dry_run(ctx: Context, objects: Sequence[Message]) -> list[tuple[Message, str]]:
    """Nothing is written: an object that exists would be configured, one that does not, created."""
    return [(obj, "configured" if _exists(ctx, obj) else "created") for obj in objects]


def _exists(ctx: Context, obj: Message) -> bool:
    if not obj.metadata.name:
        return False  # generateName: always a new object
    request = api_pb2.GetRequest(kind=info_of(obj).kind, namespace=obj.metadata.namespace, name=obj.metadata.name)
    try:
        ctx.api.Get(request)
    except grpc.RpcError as err:
        if is_not_found(err):
            return False
        raise
    return True
