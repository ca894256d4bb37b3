"""``pykubectl rollout status deployment/NAME``: follow a rollout until it is done
(also daemonset/NAME and statefulset/NAME: their viewers are in rollout/sets.py).

    Waiting for deployment "web" rollout to finish: 1 out of 4 new replicas have been updated...
    Waiting for deployment "web" rollout to finish: 2 old replicas are pending termination...
    Waiting for deployment "web" rollout to finish: 3 of 4 updated replicas are available...
    deployment "web" successfully rolled out

The lines are kubectl's DeploymentStatusViewer, computed from the Deployment alone on
every change a Watch delivers. Status is only trusted once the controller has seen
the current spec (status.observedGeneration >= metadata.generation); before that the
numbers describe the previous rollout. A Progressing condition with reason
ProgressDeadlineExceeded ends the wait with an error (exit 1).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import grpc

from apimachinery.kinds import kind_info
from component_base.flags import duration_arg
from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.resources import parse_resource_args
from kubectl.verbs.rollout.deployments import TIMED_OUT_REASON, desired_replicas, revision_of
from kubectl.verbs.rollout.sets import daemon_set_status, stateful_set_status
from kubectl.verbs.updating import get_object
from kubectl.watching import DELETED, Query, follow
from protos import apps_pb2

TIMEOUT_MESSAGE = "timed out waiting for the condition"
DEADLINE_SLACK = 0.1  # seconds; gRPC's clock and ours may differ by a hair


class RolloutError(CliError):
    """The rollout cannot finish: progress deadline exceeded, wrong revision, object deleted."""


@dataclass(frozen=True)
class RolloutStatus:
    message: str  # one line, without the newline
    done: bool


def condition(deployment: apps_pb2.Deployment, condition_type: str) -> Any:
    return next((c for c in deployment.status.conditions if c.type == condition_type), None)


def rollout_status(deployment: apps_pb2.Deployment, revision: int = 0,
                   require_available: bool = False) -> RolloutStatus:
    """kubectl's DeploymentStatusViewer.Status, as a pure function of the Deployment.

    ``require_available`` (apply --wait) also wants the Available condition True before
    calling the rollout done.
    """
    name = deployment.metadata.name
    if revision > 0:
        current = revision_of(deployment) or 0
        if current != revision:
            raise RolloutError(f"desired revision ({revision}) is different from the running revision ({current})")
    status = deployment.status
    if deployment.metadata.generation > status.observed_generation:
        return RolloutStatus("Waiting for deployment spec update to be observed...", False)
    progressing = condition(deployment, "Progressing")
    if progressing is not None and progressing.reason == TIMED_OUT_REASON:
        raise RolloutError(f'deployment "{name}" exceeded its progress deadline')
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    desired = desired_replicas(deployment)
    if status.updated_replicas < desired:
        return RolloutStatus(f"{waiting}{status.updated_replicas} out of {desired} new replicas have been updated...",
                             False)
    if status.replicas > status.updated_replicas:
        return RolloutStatus(f"{waiting}{status.replicas - status.updated_replicas} old replicas are pending "
                             "termination...", False)
    if status.available_replicas < status.updated_replicas:
        return RolloutStatus(f"{waiting}{status.available_replicas} of {status.updated_replicas} updated replicas "
                             "are available...", False)
    if require_available:
        available = condition(deployment, "Available")
        if available is None or available.status != "True":
            return RolloutStatus(f'Waiting for deployment "{name}" to become available...', False)
    return RolloutStatus(f'deployment "{name}" successfully rolled out', True)


def status_of(obj: Any, revision: int = 0, require_available: bool = False) -> RolloutStatus:
    """The status viewer of obj's kind (Deployment, DaemonSet, StatefulSet)."""
    if isinstance(obj, apps_pb2.DaemonSet):
        return RolloutStatus(*daemon_set_status(obj))
    if isinstance(obj, apps_pb2.StatefulSet):
        return RolloutStatus(*stateful_set_status(obj))
    return rollout_status(obj, revision, require_available)


def wait_for_rollout(ctx: Context, namespace: str, name: str, deadline: float | None, watch: bool = True,
                     revision: int = 0, require_available: bool = False, kind: str = "Deployment") -> None:
    """Print status lines (each new one once) until the rollout is done.

    Raises RolloutError (deadline exceeded, deleted), CliError on timeout, or the
    server's NotFound when there is no such Deployment.
    """
    info = kind_info(kind)
    deployment = get_object(ctx.api, info, namespace, name)
    printer = _LinePrinter(ctx)
    state = status_of(deployment, revision, require_available)
    printer.show(state.message)
    if state.done or not watch:
        return
    query = Query(info, namespace, field_selector=f"metadata.name={name}")
    try:
        for event_type, obj in follow(ctx.api, query, [deployment], deployment.metadata.resource_version, deadline):
            if obj.metadata.name != name:
                continue
            if event_type == DELETED:
                raise RolloutError("object has been deleted")
            state = status_of(obj, revision, require_available)
            printer.show(state.message)
            if state.done:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise CliError(TIMEOUT_MESSAGE)
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED and deadline is not None \
                and time.monotonic() >= deadline - DEADLINE_SLACK:
            raise CliError(TIMEOUT_MESSAGE) from None
        raise


class _LinePrinter:
    """kubectl prints the status on every event; a line equal to the previous one says
    nothing new, so it is printed once."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.last = ""

    def show(self, message: str) -> None:
        if message != self.last:
            self.ctx.print(message)
            self.last = message


def deadline_after(seconds: float) -> float | None:
    """A time.monotonic() deadline, or None for 0 (wait forever, kubectl's default)."""
    return time.monotonic() + seconds if seconds > 0 else None


def bool_arg(text: str) -> bool:
    """Go's boolean flag values: --watch=false, --watch=true, --watch=0."""
    lowered = text.lower()
    if lowered in ("true", "t", "1"):
        return True
    if lowered in ("false", "f", "0"):
        return False
    raise argparse.ArgumentTypeError(f'invalid boolean value "{text}"')


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "status", parents=[common], help="Show the status of the rollout",
        description="Watch the rollout of a deployment until it finishes (or fails, or the timeout passes).",
    )
    parser.add_argument("resource", metavar="TYPE[/NAME]", help="deployment/web or deployment")
    parser.add_argument("names", nargs="*", metavar="NAME")
    parser.add_argument("-w", "--watch", type=bool_arg, nargs="?", const=True, default=True, metavar="BOOL",
                        help="watch the rollout until done (default true); --watch=false: print once")
    parser.add_argument("--timeout", type=duration_arg, default=0.0, metavar="DURATION",
                        help="give up after this long, e.g. 5m; 0: never (default)")
    parser.add_argument("--revision", type=int, default=0, help="pin to a revision (default 0: the latest)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    info, names = parse_resource_args(args.resource, args.names)
    if info.kind not in ("Deployment", "DaemonSet", "StatefulSet"):
        raise CliError(f"no status viewer has been implemented for {info.kind}")
    if not names:
        raise CliError("required resource not specified")
    if len(names) > 1:
        raise CliError(f"rollout status is only supported on individual resources, but {len(names)} were given")
    wait_for_rollout(ctx, ctx.namespace, names[0], deadline_after(args.timeout), watch=args.watch,
                     revision=args.revision, kind=info.kind)
    return 0
