"""``pykubectl delete``: delete objects named by manifest, by name, or by selector.

    pykubectl delete -f deploy.yaml
    pykubectl delete deploy web api
    pykubectl delete pods -l app=web
    pykubectl delete pods --all --grace-period 0 --force

Like kubectl, it then waits (``--wait``, on by default) until the objects are really
gone: a Pod's graceful shutdown, a foreground deletion's dependents, finalizers.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any, Sequence

import grpc
from google.protobuf.message import Message

from apimachinery.kinds import KindInfo, info_of, unwrap
from client.api import is_not_found
from client.connection import is_unreachable
from component_base.flags import duration_arg
from kubectl.context import Context
from kubectl.errors import CliError, server_error_line
from kubectl.manifest import load_objects
from kubectl.resources import kind_ref, parse_resource_args, resource_ref, set_default_namespace
from kubectl.verbs.options import add_dry_run_flag, add_filename_flags, dry_run_suffix
from kubectl.watching import DELETED, Query, follow, list_objects
from protos import api_pb2

PROPAGATION_POLICIES = {
    "background": "Background",
    "foreground": "Foreground",
    "orphan": "Orphan",
    # kubectl's older boolean spelling
    "true": "Background",
    "false": "Orphan",
}
DEADLINE_SLACK = 0.1  # seconds
FORCE_WARNING = (
    "Warning: Immediate deletion does not wait for confirmation that the running resource has been "
    "terminated. The resource may continue to run on the cluster indefinitely."
)


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "delete", parents=[common], help="Delete resources by file names, stdin, resources and names, or by selector",
        description="Delete objects by manifest (-f), by TYPE NAME..., or by TYPE with -l/--all.",
    )
    parser.add_argument("resource", nargs="?", metavar="TYPE[/NAME]", help="resource type, e.g. pods, deploy/web")
    parser.add_argument("names", nargs="*", metavar="NAME", help="names of the objects to delete")
    add_filename_flags(parser, "delete")
    parser.add_argument("-l", "--selector", default="", help="delete the objects matching this label selector")
    parser.add_argument("--all", action="store_true", help="delete every object of the type in the namespace")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="with -l or --all: in every namespace")
    parser.add_argument("--grace-period", type=int, default=-1, metavar="SECONDS",
                        help="seconds the object gets to shut down; -1: its own default; 0 with --force: at once")
    parser.add_argument("--force", action="store_true",
                        help="delete at once, without waiting for the kubelet to confirm (grace period 0)")
    parser.add_argument("--cascade", default="background", type=str.lower,
                        help="background (default), foreground, or orphan: what happens to dependents")
    parser.add_argument("--wait", default="true", choices=("true", "false"), nargs="?", const="true",
                        help="wait until the objects are gone (default true)")
    parser.add_argument("--timeout", type=duration_arg, default=0.0, metavar="DURATION",
                        help="how long to wait for the objects to be gone, e.g. 60s; 0: no limit")
    parser.add_argument("--ignore-not-found", action="store_true", help="treat a missing object as deleted")
    add_dry_run_flag(parser)
    parser.set_defaults(run=run)


@dataclass(frozen=True)
class Target:
    info: KindInfo
    namespace: str
    name: str

    @property
    def description(self) -> str:
        """``deployment.apps "web"`` as kubectl's delete lines say it."""
        return f'{kind_ref(self.info)} "{self.name}"'


@dataclass(frozen=True)
class DeleteOptions:
    grace_period: int | None  # None: the object's own
    propagation_policy: str
    force: bool
    dry_run: str

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DeleteOptions:
        policy = PROPAGATION_POLICIES.get(args.cascade)
        if policy is None:
            raise CliError(f'invalid cascade value ({args.cascade}). Must be "background", "foreground", or "orphan".')
        grace = args.grace_period
        if args.force and grace < 0:
            grace = 0
        elif grace == 0 and not args.force:
            grace = 1  # kubectl: only --force deletes without any grace
        return cls(grace if grace >= 0 else None, policy, args.force, args.dry_run)

    def request(self, target: Target) -> api_pb2.DeleteRequest:
        request = api_pb2.DeleteRequest(kind=target.info.kind, namespace=target.namespace, name=target.name,
                                        propagation_policy=self.propagation_policy,
                                        dry_run=self.dry_run == "server")
        if self.grace_period is not None:
            request.grace_period_seconds = self.grace_period
        return request


def run(args: argparse.Namespace, ctx: Context) -> int:
    options = DeleteOptions.from_args(args)
    targets = _targets(args, ctx)
    if targets is None:
        return 0
    if options.force and options.grace_period == 0:
        ctx.warn(FORCE_WARNING)
    deleted, rc = _delete_all(ctx, targets, options, args.ignore_not_found)
    if args.wait == "true" and options.dry_run == "none" and deleted:
        deadline = time.monotonic() + args.timeout if args.timeout > 0 else None
        for target, uid in deleted:
            if not wait_for_deletion(ctx, target, uid, deadline):
                ctx.warn(f"error: timed out waiting for the condition on {resource_ref(target.info)}/{target.name}")
                rc = 1
    return rc


# ------------------------------------------------------------------ targets


def _targets(args: argparse.Namespace, ctx: Context) -> list[Target] | None:
    """What to delete; None when a selector matched nothing (already reported)."""
    if args.filename:
        if args.resource:
            raise CliError("when paths, URLs, or stdin is provided as input, you may not specify "
                           "resource arguments as well")
        return _targets_from_files(args, ctx)
    if not args.resource:
        raise CliError("You must provide one or more resources by argument or filename.\n"
                       "Example resource specifications include:\n"
                       "   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'")
    info, names = parse_resource_args(args.resource, args.names)
    namespace = ctx.namespace if info.namespaced else ""
    if names:
        if args.selector or args.all:
            raise CliError("name cannot be provided when a selector is specified")
        return [Target(info, namespace, name) for name in names]
    if not (args.selector or args.all):
        raise CliError("resource(s) were provided, but no name was specified")
    if args.all_namespaces:
        namespace = ""
    objects, _ = list_objects(ctx.api, Query(info, namespace, args.selector))
    if not objects:
        ctx.warn("No resources found")
        return None
    return [Target(info, obj.metadata.namespace, obj.metadata.name) for obj in objects]


def _targets_from_files(args: argparse.Namespace, ctx: Context) -> list[Target]:
    objects = load_objects(args.filename, args.recursive, ctx.stdin)
    if not objects:
        raise CliError("no objects passed to delete")
    set_default_namespace(objects, ctx.namespace, enforce=ctx.settings.namespace_from_flag)
    for obj in objects:
        if not obj.metadata.name:
            raise CliError(f"resource name may not be empty (a {info_of(obj).kind} with only generateName)")
    return [Target(info_of(obj), obj.metadata.namespace, obj.metadata.name) for obj in objects]


# ----------------------------------------------------------------- deleting


def _delete_all(
    ctx: Context, targets: Sequence[Target], options: DeleteOptions, ignore_not_found: bool
) -> tuple[list[tuple[Target, str]], int]:
    """Delete each target; returns those deleted (with their uid) and the exit code so far."""
    deleted: list[tuple[Target, str]] = []
    rc = 0
    verb = "force deleted" if options.force and options.grace_period == 0 else "deleted"
    for target in targets:
        if options.dry_run == "client":
            ctx.print(f"{target.description} {verb}{dry_run_suffix('client')}")
            continue
        try:
            response = ctx.api.Delete(options.request(target))
        except grpc.RpcError as err:
            if is_not_found(err) and ignore_not_found:
                continue
            if is_unreachable(err):
                raise
            ctx.warn(server_error_line(err))
            rc = 1
            continue
        ctx.print(f"{target.description} {verb}{dry_run_suffix(options.dry_run)}")
        deleted.append((target, _uid_of(response)))
    return deleted, rc


def _uid_of(response: api_pb2.Object) -> str:
    return unwrap(response).metadata.uid if response.WhichOneof("kind") else ""


# ------------------------------------------------------------------ waiting


def wait_for_deletion(ctx: Context, target: Target, uid: str, deadline: float | None) -> bool:
    """Block until the object (this uid, if known) is gone. False when the deadline passed first."""
    query = Query(target.info, target.namespace, field_selector=f"metadata.name={target.name}")
    objects, resource_version = list_objects(ctx.api, query)
    if not any(_is_target(obj, target, uid) for obj in objects):
        return True
    try:
        for event_type, obj in follow(ctx.api, query, objects, resource_version, deadline):
            if obj.metadata.name != target.name:
                continue
            if event_type == DELETED or not _is_target(obj, target, uid):
                return True
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED and _passed(deadline):
            return False
        raise
    return True  # follow() never ends by itself; here for the type checker


def _passed(deadline: float | None) -> bool:
    # gRPC's clock and ours may differ by a hair; a deadline error this close to ours is ours.
    return deadline is not None and time.monotonic() >= deadline - DEADLINE_SLACK


def _is_target(obj: Message, target: Target, uid: str) -> bool:
    """The very object we deleted: same name, and same uid unless we do not know it."""
    return obj.metadata.name == target.name and (not uid or obj.metadata.uid == uid)
