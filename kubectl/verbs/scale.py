"""``pykubectl scale``: set the replica count of Deployments, ReplicaSets and StatefulSets.

    pykubectl scale deployment/web --replicas 6
    pykubectl scale deploy web api --replicas 0
    pykubectl scale rs -l app=web --replicas 2 --current-replicas 3
    pykubectl scale sts/db --replicas 3

Only spec.replicas changes; the Deployment controller (or the ReplicaSet or StatefulSet
controller) does the rest. As in kubectl, DaemonSets (one Pod per node), Jobs (their
parallelism, not a replica count) and CronJobs cannot be scaled. The write is a compare-and-swap on resourceVersion, retried on conflict,
so scaling never undoes a change someone made a moment earlier.
"""

from __future__ import annotations

import argparse
from typing import Any

from google.protobuf.message import Message

from apimachinery.kinds import KindInfo
from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.resources import object_ref, parse_resource_args
from kubectl.verbs.updating import update_with_retry
from kubectl.verbs.options import add_selection_flags, no_resources_found, selected_names

SCALABLE = ("Deployment", "ReplicaSet", "StatefulSet")


class PreconditionError(CliError):
    """kubectl's scale precondition failure: ``Expected replicas to be 3, was 4``."""


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "scale", parents=[common], help="Set a new size for a deployment, replica set or stateful set",
        description="Set spec.replicas of deployments (deploy), replica sets (rs) or stateful sets (sts).",
    )
    parser.add_argument("resource", nargs="?", metavar="TYPE[/NAME]", help="deployment/web, deploy, rs, sts")
    parser.add_argument("names", nargs="*", metavar="NAME", help="names of the objects to scale")
    parser.add_argument("--replicas", type=int, default=None, metavar="COUNT", help="the new number of replicas")
    parser.add_argument("--current-replicas", type=int, default=-1, metavar="COUNT",
                        help="only scale if the current replica count is this (-1: no condition)")
    add_selection_flags(parser, "scale")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.replicas is None:
        raise CliError('required flag(s) "replicas" not set')
    if args.replicas < 0:
        raise CliError("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
    if not args.resource:
        raise CliError("You must provide one or more resources by argument or filename.")
    info, names = parse_resource_args(args.resource, args.names)
    if info.kind not in SCALABLE:
        raise CliError(f"cannot scale {info.plural}: only deployments, replicasets and statefulsets have a replica count")
    names = selected_names(ctx, info, ctx.namespace, names, args)
    if not names:
        ctx.warn(no_resources_found(ctx.namespace))
        return 0
    for name in names:
        scaled = scale(ctx, info, ctx.namespace, name, args.replicas, args.current_replicas)
        ctx.print(f"{object_ref(scaled)} scaled")
    return 0


def scale(ctx: Context, info: KindInfo, namespace: str, name: str, replicas: int, current: int = -1) -> Message:
    """Set spec.replicas (checking ``current`` first unless it is -1); returns the object."""

    def change(obj: Message) -> bool:
        spec = obj.spec  # type: ignore[attr-defined]
        actual = spec.replicas if spec.HasField("replicas") else 1
        if current >= 0 and actual != current:
            raise PreconditionError(f"Expected replicas to be {current}, was {actual}")
        if spec.HasField("replicas") and actual == replicas:
            return False  # kubectl still says "scaled"; there is just nothing to write
        spec.replicas = replicas
        return True

    obj, _ = update_with_retry(ctx.api, info, namespace, name, change)
    return obj
