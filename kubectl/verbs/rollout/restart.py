"""``pykubectl rollout restart deployment|daemonset|statefulset/NAME``: replace every Pod,
one rollout's worth.

Nothing in Kubernetes restarts Pods in place; instead kubectl changes the pod template
(the annotation ``kubectl.kubernetes.io/restartedAt`` = now), which makes a new
template hash and a normal rolling update: a new ReplicaSet for a Deployment, Pods
replaced node by node (DaemonSet) or ordinal by ordinal (StatefulSet) by their
controllers' update strategies.
"""

from __future__ import annotations

import argparse
from typing import Any

from google.protobuf.message import Message

from apimachinery.timestamps import rfc3339
from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.resources import object_ref, parse_resource_args
from kubectl.verbs.rollout.deployments import RESTARTED_AT_ANNOTATION
from kubectl.verbs.updating import update_with_retry
from protos import apps_pb2

PAUSED_ERROR = "can't restart paused deployment (run rollout resume first)"
RESTARTABLE = ("Deployment", "DaemonSet", "StatefulSet")  # kubectl's ObjectRestarter


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "restart", parents=[common], help="Restart a resource",
        description="Roll out every Pod of a deployment, daemonset or statefulset anew by stamping its pod "
                    "template.",
    )
    parser.add_argument("resource", metavar="TYPE[/NAME]", help="deployment/web, ds/agent, sts/db")
    parser.add_argument("names", nargs="*", metavar="NAME")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    info, names = parse_resource_args(args.resource, args.names)
    if info.kind not in RESTARTABLE:
        raise CliError(f'{info.kind.lower()}s "{names[0] if names else ""}" restarting is not supported')
    if not names:
        raise CliError("required resource not specified")
    stamp = rfc3339(ctx.now())
    for name in names:

        def change(obj: Message) -> bool:
            if isinstance(obj, apps_pb2.Deployment) and obj.spec.paused:
                raise CliError(PAUSED_ERROR)
            annotations = obj.spec.template.metadata.annotations  # type: ignore[attr-defined]
            if annotations.get(RESTARTED_AT_ANNOTATION) == stamp:
                raise CliError(f"failed to create patch for {object_ref(obj)}: if restart has already "
                               "been triggered within the past second, please wait before attempting to "
                               "trigger another")
            annotations[RESTARTED_AT_ANNOTATION] = stamp
            return True

        restarted, _ = update_with_retry(ctx.api, info, ctx.namespace, name, change)
        ctx.print(f"{object_ref(restarted)} restarted")
    return 0
