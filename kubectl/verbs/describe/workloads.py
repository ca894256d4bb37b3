"""describe deployment and replicaset: replicas, strategy, conditions, the pod template and
the ReplicaSets or Pods behind them."""

from __future__ import annotations

from typing import Iterable, Sequence

from apimachinery.kinds import kind_info
from apimachinery.selectors import LabelSelector
from apimachinery.tables.cells import NONE, format_selector
from kubectl.context import Context
from kubectl.describe_text import PrefixWriter, rfc1123z
from kubectl.verbs.describe.common import (
    LEVEL_0,
    LEVEL_1,
    annotations_multiline,
    controlled_by,
    describe_events,
    int_or_string,
    labels_multiline,
)
from kubectl.verbs.describe.pods import describe_pod_template
from kubectl.verbs.rollout.deployments import (
    desired_replicas,
    is_controlled_by,
    new_replica_set,
    old_replica_sets,
    replica_sets_of,
)
from kubectl.watching import Query, list_objects
from protos import apps_pb2, core_pb2, meta_pb2


# --------------------------------------------------------------- workloads


def _conditions_table(conditions: Sequence[meta_pb2.Condition], w: PrefixWriter) -> None:
    if conditions:
        w.write(LEVEL_0, "Conditions:\n  Type\tStatus\tReason\n")
        w.write(LEVEL_1, "----\t------\t------\n")
        for c in conditions:
            w.write(LEVEL_1, f"{c.type} \t{c.status}\t{c.reason}\n")


def replica_sets_text(replica_sets: Sequence[apps_pb2.ReplicaSet]) -> str:
    """``web-7d4b9c (4/4 replicas created)``, comma-separated, or ``<none>``."""
    return ", ".join(f"{rs.metadata.name} ({rs.status.replicas}/{desired_replicas(rs)} replicas created)"
                     for rs in replica_sets) or NONE


def describe_deployment(ctx: Context, deployment: apps_pb2.Deployment,
                        events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta, spec, status = deployment.metadata, deployment.spec, deployment.status
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{meta.namespace}\n")
    w.write(LEVEL_0, f"CreationTimestamp:\t{rfc1123z(meta.creation_timestamp)}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    w.write(LEVEL_0, f"Selector:\t{format_selector(spec.selector)}\n")
    w.write(LEVEL_0, f"Replicas:\t{desired_replicas(deployment)} desired | {status.updated_replicas} updated | "
                     f"{status.replicas} total | {status.available_replicas} available | "
                     f"{status.unavailable_replicas} unavailable\n")
    w.write(LEVEL_0, f"StrategyType:\t{spec.strategy.type}\n")
    w.write(LEVEL_0, f"MinReadySeconds:\t{spec.min_ready_seconds}\n")
    if spec.strategy.HasField("rolling_update"):
        rolling = spec.strategy.rolling_update
        w.write(LEVEL_0, f"RollingUpdateStrategy:\t{int_or_string(rolling.max_unavailable)} max unavailable, "
                         f"{int_or_string(rolling.max_surge)} max surge\n")
    describe_pod_template(spec.template, w)
    _conditions_table(status.conditions, w)
    replica_sets = replica_sets_of(ctx.api, deployment)
    new = new_replica_set(deployment, replica_sets)
    w.write(LEVEL_0, f"OldReplicaSets:\t{replica_sets_text(old_replica_sets(deployment, replica_sets))}\n")
    w.write(LEVEL_0, f"NewReplicaSet:\t{replica_sets_text([new] if new else [])}\n")
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()


def pods_status_counts(pods: Iterable[core_pb2.Pod]) -> tuple[int, int, int, int]:
    """(running, waiting, succeeded, failed) by phase; Pending counts as waiting."""
    phases = [pod.status.phase or "Pending" for pod in pods]
    return (phases.count("Running"), phases.count("Pending"), phases.count("Succeeded"), phases.count("Failed"))


def describe_replica_set(ctx: Context, rs: apps_pb2.ReplicaSet, events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta, spec, status = rs.metadata, rs.spec, rs.status
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{meta.namespace}\n")
    w.write(LEVEL_0, f"Selector:\t{format_selector(spec.selector)}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    owner = controlled_by(rs)
    if owner:
        w.write(LEVEL_0, f"Controlled By:\t{owner}\n")
    w.write(LEVEL_0, f"Replicas:\t{status.replicas} current / {desired_replicas(rs)} desired\n")
    running, waiting, succeeded, failed = pods_status_counts(_pods_of(ctx, rs))
    w.write(LEVEL_0, f"Pods Status:\t{running} Running / {waiting} Waiting / {succeeded} Succeeded / "
                     f"{failed} Failed\n")
    describe_pod_template(spec.template, w)
    _conditions_table(status.conditions, w)
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()


def _pods_of(ctx: Context, rs: apps_pb2.ReplicaSet) -> list[core_pb2.Pod]:
    selector = LabelSelector.from_proto(rs.spec.selector)
    pods, _ = list_objects(ctx.api, Query(kind_info("Pod"), rs.metadata.namespace, str(selector)))
    return [pod for pod in pods if selector.matches(pod.metadata.labels) and is_controlled_by(pod, rs)]

