"""describe daemonset and statefulset, as kubectl's describeDaemonSet and describeStatefulSet:
the counts from the status, the Pods the set controls by phase, the pod template and (for a
StatefulSet) its volumeClaimTemplates."""

from __future__ import annotations

from typing import Any, Sequence

from apimachinery.kinds import kind_info
from apimachinery.selectors import LabelSelector
from apimachinery.tables.cells import NONE, format_labels, format_selector
from kubectl.context import Context
from kubectl.describe_text import PrefixWriter, rfc1123z
from kubectl.verbs.describe.common import LEVEL_0, LEVEL_1, annotations_multiline, describe_events, \
    int_or_string, labels_multiline
from kubectl.verbs.describe.pods import describe_pod_template
from kubectl.verbs.describe.workloads import pods_status_counts
from kubectl.verbs.rollout.deployments import is_controlled_by
from kubectl.watching import Query, list_objects
from protos import apps_pb2, core_pb2


def _pods_status(ctx: Context, owner: Any, w: PrefixWriter) -> None:
    selector = LabelSelector.from_proto(owner.spec.selector)
    pods, _ = list_objects(ctx.api, Query(kind_info("Pod"), owner.metadata.namespace, str(selector)))
    running, waiting, succeeded, failed = pods_status_counts(
        pod for pod in pods if selector.matches(pod.metadata.labels) and is_controlled_by(pod, owner))
    w.write(LEVEL_0, f"Pods Status:\t{running} Running / {waiting} Waiting / {succeeded} Succeeded / "
                     f"{failed} Failed\n")


def describe_daemon_set(ctx: Context, ds: apps_pb2.DaemonSet, events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta, spec, status = ds.metadata, ds.spec, ds.status
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{meta.namespace}\n")
    w.write(LEVEL_0, f"Selector:\t{format_selector(spec.selector)}\n")
    w.write(LEVEL_0, f"Node-Selector:\t{format_labels(spec.template.spec.node_selector)}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    # kubectl writes these five with a space, not a tab: they are not aligned with the rest.
    w.write(LEVEL_0, f"Desired Number of Nodes Scheduled: {status.desired_number_scheduled}\n")
    w.write(LEVEL_0, f"Current Number of Nodes Scheduled: {status.current_number_scheduled}\n")
    w.write(LEVEL_0, f"Number of Nodes Scheduled with Up-to-date Pods: {status.updated_number_scheduled}\n")
    w.write(LEVEL_0, f"Number of Nodes Scheduled with Available Pods: {status.number_available}\n")
    w.write(LEVEL_0, f"Number of Nodes Misscheduled: {status.number_misscheduled}\n")
    _pods_status(ctx, ds, w)
    describe_pod_template(spec.template, w)
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()


def _volume_claim_templates(templates: Sequence[apps_pb2.PersistentVolumeClaimTemplate], w: PrefixWriter) -> None:
    if not templates:
        w.write(LEVEL_0, f"Volume Claims:\t{NONE}\n")
        return
    w.write(LEVEL_0, "Volume Claims:\n")
    for claim in templates:
        w.write(LEVEL_1, f"Name:\t{claim.metadata.name}\n")
        w.write(LEVEL_1, f"StorageClass:\t{claim.spec.storage_class_name}\n")
        labels_multiline(w, "Labels", claim.metadata.labels, "  ", "\t")
        labels_multiline(w, "Annotations", claim.metadata.annotations, "  ", "\t")
        capacity = claim.spec.resources.requests.get("storage", "<default>")
        w.write(LEVEL_1, f"Capacity:\t{capacity}\n")
        w.write(LEVEL_1, f"Access Modes:\t[{' '.join(claim.spec.access_modes)}]\n")  # Go's %s of a slice


def describe_stateful_set(ctx: Context, sts: apps_pb2.StatefulSet, events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta, spec, status = sts.metadata, sts.spec, sts.status
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{meta.namespace}\n")
    w.write(LEVEL_0, f"CreationTimestamp:\t{rfc1123z(meta.creation_timestamp)}\n")
    w.write(LEVEL_0, f"Selector:\t{format_selector(spec.selector)}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    w.write(LEVEL_0, f"Service Name:\t{spec.service_name}\n")
    w.write(LEVEL_0, f"Pod Management Policy:\t{spec.pod_management_policy}\n")
    replicas = spec.replicas if spec.HasField("replicas") else 1
    w.write(LEVEL_0, f"Replicas:\t{replicas} desired | {status.replicas} total\n")
    w.write(LEVEL_0, f"Update Strategy:\t{spec.update_strategy.type}\n")
    if spec.update_strategy.HasField("rolling_update"):
        rolling = spec.update_strategy.rolling_update
        if rolling.HasField("partition"):
            w.write(LEVEL_1, f"Partition:\t{rolling.partition}\n")
            if rolling.HasField("max_unavailable"):
                w.write(LEVEL_1, f"MaxUnavailable:\t{int_or_string(rolling.max_unavailable)}\n")
    if spec.HasField("persistent_volume_claim_retention_policy"):
        retention = spec.persistent_volume_claim_retention_policy
        w.write(LEVEL_0, "Persistent Volume Claim Retention Policy:\n")
        w.write(LEVEL_1, f"WhenDeleted:\t{retention.when_deleted}\n")
        w.write(LEVEL_1, f"WhenScaled:\t{retention.when_scaled}\n")
    _pods_status(ctx, sts, w)
    describe_pod_template(spec.template, w)
    _volume_claim_templates(spec.volume_claim_templates, w)
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()
