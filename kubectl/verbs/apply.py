"""``pykubectl apply -f FILE|DIR|-``: create or update objects from manifests.

All manifests are loaded and converted first, then sent in ONE Apply call, so the
server validates every object before it writes any. Prints kubectl's lines::

    deployment.apps/web created
    namespace/team-a unchanged

With ``--wait`` it then follows each applied Deployment's rollout, printing the lines
of ``rollout status``, until every one is rolled out and Available (exit 0), its
progress deadline is exceeded, or ``--timeout`` passes (exit 1).
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

import grpc
from google.protobuf.message import Message

from apimachinery.kinds import info_of, unwrap, wrap
from client.api import is_not_found
from component_base.flags import duration_arg
from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.manifest import load_objects
from kubectl.resources import object_ref, set_default_namespace
from kubectl.verbs.options import add_dry_run_flag, add_filename_flags, dry_run_suffix
from kubectl.verbs.rollout.status import bool_arg, deadline_after, wait_for_rollout
from protos import api_pb2, apps_pb2

FIELD_MANAGER = "kubectl"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "apply", parents=[common], help="Apply a configuration to resources by file name or stdin",
        description="Create or update the objects in the given manifests, all in one request.",
    )
    add_filename_flags(parser, "apply")
    add_dry_run_flag(parser)
    parser.add_argument("--wait", type=bool_arg, nargs="?", const=True, default=False, metavar="BOOL",
                        help="after applying, wait until every applied deployment is rolled out and available")
    parser.add_argument("--timeout", type=duration_arg, default=0.0, metavar="DURATION",
                        help="with --wait: give up after this long, e.g. 5m; 0: never (default)")
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
    if args.wait and args.dry_run == "none":
        wait_for_deployments(ctx, [obj for obj, _ in results], args.timeout)
    return 0


def wait_for_deployments(ctx: Context, objects: Sequence[Message], timeout: float) -> None:
    """Follow each applied Deployment's rollout in turn, all within one deadline.

    One after another is as fast as all at once: the rollouts proceed in the cluster
    meanwhile, so a later one is usually done by the time it is looked at.
    """
    deadline = deadline_after(timeout)
    for obj in objects:
        if isinstance(obj, apps_pb2.Deployment):
            wait_for_rollout(ctx, obj.metadata.namespace, obj.metadata.name, deadline, require_available=True)


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
