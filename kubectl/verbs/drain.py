"""``pykubectl drain NODE``: cordon a node, then move its Pods elsewhere.

    pykubectl drain n1 --ignore-daemonsets --timeout 60s

kubectl's sequence and lines: cordon (``node/n1 cordoned``), check every Pod bound to
the node, evict each (``evicting pod default/web-7d4b9c-x7k2p``), wait until each is
really gone (``pod/web-7d4b9c-x7k2p evicted``), then ``node/n1 drained``. The
ReplicaSet controller notices the missing Pods and the scheduler places the
replacements on the remaining, schedulable nodes; that is the whole trick.

A Pod that no controller owns would be gone for good, so drain refuses it unless
--force (kubectl's rule). pykube has no Eviction API (no PodDisruptionBudgets), so an
eviction is a graceful Delete with the Pod's own grace period (or --grace-period).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import grpc

from apimachinery.kinds import kind_info
from apimachinery.objects import controller_ref
from client.api import is_not_found
from component_base.flags import duration_arg
from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.verbs.cordon import cordon, node_names
from kubectl.watching import DELETED, Query, follow, list_objects
from protos import api_pb2, core_pb2

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
UNMANAGED_FATAL = "cannot delete Pods that declare no controller (use --force to override)"
UNMANAGED_WARNING = "deleting Pods that declare no controller"
DAEMONSET_FATAL = "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
DAEMONSET_WARNING = "ignoring DaemonSet-managed Pods"
DEADLINE_SLACK = 0.1  # seconds


class DrainError(CliError):
    """Why a node could not be drained; the message is kubectl's."""


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "drain", parents=[common], help="Drain node in preparation for maintenance",
        description="Cordon the node, then evict every Pod on it and wait until they are gone.",
    )
    parser.add_argument("nodes", nargs="*", metavar="NODE", help="node names")
    parser.add_argument("-l", "--selector", default="", help="drain the nodes matching this label selector")
    parser.add_argument("--pod-selector", default="", help="only evict the Pods matching this label selector")
    parser.add_argument("--force", action="store_true", help="also delete Pods that no controller manages")
    parser.add_argument("--ignore-daemonsets", action="store_true", help="ignore DaemonSet-managed Pods")
    parser.add_argument("--delete-emptydir-data", "--delete-local-data", action="store_true",
                        help="continue even if Pods use emptyDir (pykube Pods have no volumes)")
    parser.add_argument("--grace-period", type=int, default=-1, metavar="SECONDS",
                        help="seconds each Pod gets to stop; -1: the Pod's own terminationGracePeriodSeconds")
    parser.add_argument("--timeout", type=duration_arg, default=0.0, metavar="DURATION",
                        help="give up after this long, e.g. 60s; 0: never (default)")
    parser.add_argument("--skip-wait-for-delete-timeout", type=int, default=0, metavar="SECONDS",
                        help="skip Pods whose deletion started more than this long ago; 0: never skip")
    parser.add_argument("--disable-eviction", action="store_true",
                        help="delete rather than evict (the same thing in pykube; only the wording changes)")
    parser.set_defaults(run=run)


@dataclass(frozen=True)
class DrainOptions:
    force: bool = False
    ignore_daemonsets: bool = False
    grace_period: int = -1
    timeout: float = 0.0
    skip_wait_for_delete_timeout: int = 0
    pod_selector: str = ""
    disable_eviction: bool = False


@dataclass
class PodPlan:
    """What drain will do with a node's Pods: delete some, skip some, warnings and errors
    grouped by message (kubectl's PodDeleteList)."""

    delete: list[core_pb2.Pod] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def warning_text(self) -> str:
        return "; ".join(f"{message}: {', '.join(pods)}" for message, pods in self.warnings.items())

    def error_texts(self) -> list[str]:
        return [f"{message}: {', '.join(pods)}" for message, pods in self.errors.items()]


def _controller_kind(pod: core_pb2.Pod) -> str:
    ref = controller_ref(pod)
    return ref.kind if ref is not None else ""


def plan(pods: Sequence[core_pb2.Pod], options: DrainOptions, now: Any) -> PodPlan:
    """Decide per Pod, in kubectl's filter order: already long deleted, DaemonSet, mirror,
    unmanaged. Pure, so every rule is unit-tested without a server."""
    result = PodPlan()
    for pod in pods:
        ref = f"{pod.metadata.namespace}/{pod.metadata.name}"
        if (options.skip_wait_for_delete_timeout > 0 and pod.metadata.HasField("deletion_timestamp")
                and (now - pod.metadata.deletion_timestamp.ToDatetime(tzinfo=now.tzinfo)).total_seconds()
                > options.skip_wait_for_delete_timeout):
            continue
        kind = _controller_kind(pod)
        finished = pod.status.phase in ("Succeeded", "Failed")
        if kind == "DaemonSet":
            if options.ignore_daemonsets:
                result.warnings.setdefault(DAEMONSET_WARNING, []).append(ref)
            else:
                result.errors.setdefault(DAEMONSET_FATAL, []).append(ref)
            continue
        if MIRROR_ANNOTATION in pod.metadata.annotations:
            continue  # the kubelet's own static Pod: deleting its mirror does nothing
        if not kind and not finished:
            if options.force:
                result.warnings.setdefault(UNMANAGED_WARNING, []).append(ref)
            else:
                result.errors.setdefault(UNMANAGED_FATAL, []).append(ref)
                continue
        result.delete.append(pod)
    return result


def aggregate(errors: Sequence[str]) -> str:
    """Go's utilerrors.NewAggregate(...).Error(): one message as is, several in brackets."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def go_duration(seconds: float) -> str:
    """Go's Duration.String(): ``30s``, ``1m30s``, ``1h0m0s``, ``500ms``."""
    if 0 < seconds < 1:
        return f"{seconds * 1000:g}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text


def pods_on(ctx: Context, node: str, pod_selector: str = "") -> tuple[list[core_pb2.Pod], str]:
    query = Query(kind_info("Pod"), "", pod_selector, f"spec.nodeName={node}")
    pods, resource_version = list_objects(ctx.api, query)
    return [pod for pod in pods if isinstance(pod, core_pb2.Pod) and pod.spec.node_name == node], resource_version


def drain_node(ctx: Context, node: str, options: DrainOptions) -> None:
    """Evict the node's Pods and wait until they are gone. Raises DrainError."""
    pods, _ = pods_on(ctx, node, options.pod_selector)
    decided = plan(pods, options, ctx.now())
    errors = decided.error_texts()
    if errors:
        raise DrainError(aggregate(errors))
    if decided.warnings:
        ctx.warn(f"Warning: {decided.warning_text()}")
    deadline = time.monotonic() + options.timeout if options.timeout > 0 else None
    pending: dict[str, core_pb2.Pod] = {}
    for pod in decided.delete:
        ctx.print(f"evicting pod {pod.metadata.namespace}/{pod.metadata.name}")
        request = api_pb2.DeleteRequest(kind="Pod", namespace=pod.metadata.namespace, name=pod.metadata.name,
                                        preconditions=api_pb2.Preconditions(uid=pod.metadata.uid))
        if options.grace_period >= 0:
            request.grace_period_seconds = options.grace_period
        try:
            ctx.api.Delete(request)
        except grpc.RpcError as err:
            if not (is_not_found(err) or _uid_changed(err)):
                raise
        pending[pod.metadata.uid] = pod
    verb = "deleted" if options.disable_eviction else "evicted"
    try:
        _wait_until_gone(ctx, node, pending, deadline, verb, options.pod_selector)
    except grpc.RpcError as err:
        if not (err.code() == grpc.StatusCode.DEADLINE_EXCEEDED and deadline is not None
                and time.monotonic() >= deadline - DEADLINE_SLACK):
            raise
        message = aggregate([f'error when waiting for pod "{pod.metadata.name}" terminating: global timeout '
                             f"reached: {go_duration(options.timeout)}" for pod in pending.values()])
        ctx.warn(f'There are pending pods in node "{node}" when an error occurred: {message}')
        for pod in pending.values():
            ctx.warn(f"pod/{pod.metadata.name}")
        raise DrainError(message) from None


def _uid_changed(err: grpc.RpcError) -> bool:
    """A Conflict on the uid precondition: the Pod of that name is a new one; ours is gone."""
    return hasattr(err, "code") and err.code() == grpc.StatusCode.ABORTED


def _wait_until_gone(ctx: Context, node: str, pending: dict[str, core_pb2.Pod], deadline: float | None,
                     verb: str, pod_selector: str) -> None:
    """Print ``pod/x evicted`` as each Pod disappears (by uid), until none is left."""

    def gone(uid: str) -> None:
        pod = pending.pop(uid, None)
        if pod is not None:
            ctx.print(f"pod/{pod.metadata.name} {verb}")

    if not pending:
        return
    query = Query(kind_info("Pod"), "", pod_selector, f"spec.nodeName={node}")
    present, resource_version = list_objects(ctx.api, query)
    uids = {pod.metadata.uid for pod in present if pod.spec.node_name == node}  # type: ignore[attr-defined]
    for uid in [uid for uid in pending if uid not in uids]:
        gone(uid)
    if not pending:
        return
    for event_type, obj in follow(ctx.api, query, present, resource_version, deadline):
        if event_type == DELETED:
            gone(obj.metadata.uid)
            if not pending:
                return
        if deadline is not None and time.monotonic() >= deadline:
            raise _DeadlineExceeded()


class _DeadlineExceeded(grpc.RpcError):
    """What a Watch past its deadline raises; raised by hand when events kept coming."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.DEADLINE_EXCEEDED

    def details(self) -> str:
        return "Deadline Exceeded"


def run(args: argparse.Namespace, ctx: Context) -> int:
    nodes = node_names(ctx, args.nodes, args.selector, "drain")
    options = DrainOptions(force=args.force, ignore_daemonsets=args.ignore_daemonsets,
                           grace_period=args.grace_period, timeout=args.timeout,
                           skip_wait_for_delete_timeout=args.skip_wait_for_delete_timeout,
                           pod_selector=args.pod_selector, disable_eviction=args.disable_eviction)
    for node in nodes:
        ctx.print(cordon(ctx, node))
    failed: list[tuple[str, DrainError]] = []
    for node in nodes:
        try:
            drain_node(ctx, node, options)
        except DrainError as err:
            ctx.warn(f'error: unable to drain node "{node}" due to error: {err}, continuing command...')
            failed.append((node, err))
            continue
        ctx.print(f"node/{node} drained")
    if failed:
        ctx.warn("There are pending nodes to be drained:")
        for node, _ in failed:
            ctx.warn(f" {node}")
        raise CliError(aggregate([str(err) for _, err in failed]))
    return 0
