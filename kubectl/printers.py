"""What ``pykubectl get`` prints: kubectl's tables, and objects as YAML, JSON or names.

Everything here is a pure function of objects and the current time, so tables are
unit-tested with hand-built protos. The column logic follows kubectl's printers
(k8s.io/kubernetes/pkg/printers/internalversion) for the kinds pykube serves.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import yaml
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from apimachinery.convert import to_dict
from apimachinery.kinds import KindInfo, info_of
from kubectl.duration import human_duration
from kubectl.resources import object_ref
from protos import apps_pb2, coordination_pb2, core_pb2, meta_pb2

NONE = "<none>"
UNKNOWN = "<unknown>"


# ------------------------------------------------------------------ cells


def age(timestamp: Timestamp, now: datetime.datetime) -> str:
    """kubectl's translateTimestampSince: ``<unknown>`` when unset, else a HumanDuration."""
    if timestamp.seconds == 0 and timestamp.nanos == 0:
        return UNKNOWN
    return human_duration(now - timestamp.ToDatetime(tzinfo=datetime.timezone.utc))


def format_labels(labels: dict[str, str] | Any) -> str:
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels)) or NONE


def format_selector(selector: meta_pb2.LabelSelector) -> str:
    """kubectl's FormatLabelSelector: ``app=web,tier in (a,b),!legacy``."""
    parts = [f"{key}={selector.match_labels[key]}" for key in sorted(selector.match_labels)]
    for requirement in selector.match_expressions:
        values = ",".join(requirement.values)
        parts.append({
            "In": f"{requirement.key} in ({values})",
            "NotIn": f"{requirement.key} notin ({values})",
            "Exists": requirement.key,
            "DoesNotExist": f"!{requirement.key}",
        }.get(requirement.operator, f"{requirement.key} {requirement.operator} ({values})"))
    return ",".join(parts) or NONE


def _containers_and_images(template: core_pb2.PodTemplateSpec) -> list[str]:
    containers = template.spec.containers
    return [",".join(c.name for c in containers) or NONE, ",".join(c.image for c in containers) or NONE]


# ------------------------------------------------------------------- pods


def pod_status(pod: core_pb2.Pod) -> str:
    """kubectl's STATUS: a container's waiting/terminated reason wins over the phase."""
    reason = pod.status.reason or pod.status.phase
    has_running = False
    for status in reversed(pod.status.container_statuses):
        state = status.state
        if state.HasField("waiting") and state.waiting.reason:
            reason = state.waiting.reason
        elif state.HasField("terminated") and state.terminated.reason:
            reason = state.terminated.reason
        elif state.HasField("terminated"):
            terminated = state.terminated
            reason = f"Signal:{terminated.signal}" if terminated.signal else f"ExitCode:{terminated.exit_code}"
        elif status.ready and state.HasField("running"):
            has_running = True
    if reason == "Completed" and has_running:
        reason = "Running" if _condition_true(pod.status.conditions, "Ready") else "NotReady"
    if pod.metadata.HasField("deletion_timestamp"):
        if pod.status.reason == "NodeLost":
            reason = "Unknown"
        elif pod.status.phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason or "Pending"


def _condition_true(conditions: Iterable[meta_pb2.Condition], condition_type: str) -> bool:
    return any(c.type == condition_type and c.status == "True" for c in conditions)


def pod_ready(pod: core_pb2.Pod) -> str:
    ready = sum(1 for s in pod.status.container_statuses if s.ready and s.state.HasField("running"))
    return f"{ready}/{len(pod.spec.containers)}"


def pod_restarts(pod: core_pb2.Pod, now: datetime.datetime) -> str:
    """Sum of restartCount, with kubectl's ``(5s ago)`` for the latest restart."""
    restarts = sum(s.restart_count for s in pod.status.container_statuses)
    finished = [
        s.last_state.terminated.finished_at
        for s in pod.status.container_statuses
        if s.last_state.HasField("terminated") and s.last_state.terminated.HasField("finished_at")
    ]
    if restarts == 0 or not finished:
        return str(restarts)
    latest = max(finished, key=lambda ts: (ts.seconds, ts.nanos))
    return f"{restarts} ({age(latest, now)} ago)"


def _pod_ip(pod: core_pb2.Pod) -> str:
    if pod.status.pod_ips:
        return pod.status.pod_ips[0].ip or NONE
    return pod.status.pod_ip or NONE


def pod_row(pod: core_pb2.Pod, now: datetime.datetime, wide: bool) -> list[str]:
    row = [pod.metadata.name, pod_ready(pod), pod_status(pod), pod_restarts(pod, now),
           age(pod.metadata.creation_timestamp, now)]
    if wide:
        row += [_pod_ip(pod), pod.spec.node_name or NONE]
    return row


# ------------------------------------------------------------- workloads


def deployment_row(deployment: apps_pb2.Deployment, now: datetime.datetime, wide: bool) -> list[str]:
    spec, status = deployment.spec, deployment.status
    desired = spec.replicas if spec.HasField("replicas") else 1
    row = [deployment.metadata.name, f"{status.ready_replicas}/{desired}", str(status.updated_replicas),
           str(status.available_replicas), age(deployment.metadata.creation_timestamp, now)]
    if wide:
        row += [*_containers_and_images(spec.template), format_selector(spec.selector)]
    return row


def replica_set_row(replica_set: apps_pb2.ReplicaSet, now: datetime.datetime, wide: bool) -> list[str]:
    spec, status = replica_set.spec, replica_set.status
    desired = spec.replicas if spec.HasField("replicas") else 1
    row = [replica_set.metadata.name, str(desired), str(status.replicas), str(status.ready_replicas),
           age(replica_set.metadata.creation_timestamp, now)]
    if wide:
        row += [*_containers_and_images(spec.template), format_selector(spec.selector)]
    return row


# ------------------------------------------------------------------ nodes

ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
LEGACY_ROLE_LABEL = "kubernetes.io/role"


def node_status(node: core_pb2.Node) -> str:
    """``Ready``, ``NotReady`` (Ready condition False or Unknown), ``Unknown`` (no condition yet)."""
    ready = [c for c in node.status.conditions if c.type == "Ready"]
    if not ready:
        statuses = ["Unknown"]
    else:
        statuses = ["Ready" if ready[-1].status == "True" else "NotReady"]
    if node.spec.unschedulable:
        statuses.append("SchedulingDisabled")
    return ",".join(statuses)


def node_roles(node: core_pb2.Node) -> str:
    roles = set()
    for key, value in node.metadata.labels.items():
        if key.startswith(ROLE_LABEL_PREFIX) and key != ROLE_LABEL_PREFIX:
            roles.add(key[len(ROLE_LABEL_PREFIX):])
        elif key == LEGACY_ROLE_LABEL and value:
            roles.add(value)
    return ",".join(sorted(roles)) or NONE


def _node_address(node: core_pb2.Node, kind: str) -> str:
    return next((a.address for a in node.status.addresses if a.type == kind), NONE)


def node_row(node: core_pb2.Node, now: datetime.datetime, wide: bool) -> list[str]:
    info = node.status.node_info
    row = [node.metadata.name, node_status(node), node_roles(node), age(node.metadata.creation_timestamp, now),
           info.kubelet_version]
    if wide:
        row += [_node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
                info.os_image or UNKNOWN, info.kernel_version or UNKNOWN,
                info.container_runtime_version or UNKNOWN]
    return row


# ------------------------------------------------- namespaces, events, leases


def namespace_row(namespace: core_pb2.Namespace, now: datetime.datetime, wide: bool) -> list[str]:
    return [namespace.metadata.name, namespace.status.phase, age(namespace.metadata.creation_timestamp, now)]


def event_last_seen(event: core_pb2.Event, now: datetime.datetime) -> str:
    """``2m``, or ``2m (x3 over 10m)`` for a repeated event."""
    first = age(event.first_timestamp, now)
    last = age(event.last_timestamp, now) if event.HasField("last_timestamp") else first
    return f"{last} (x{event.count} over {first})" if event.count > 1 else last


def event_row(event: core_pb2.Event, now: datetime.datetime, wide: bool) -> list[str]:
    involved = event.involved_object
    obj = f"{involved.kind.lower()}/{involved.name}"
    message = event.message.strip()
    if not wide:
        return [event_last_seen(event, now), event.type, event.reason, obj, message]
    source = event.source.component or event.reporting_component
    if event.source.host:
        source = f"{source}, {event.source.host}"
    return [event_last_seen(event, now), event.type, event.reason, obj, involved.field_path, source, message,
            age(event.first_timestamp, now), str(event.count), event.metadata.name]


def lease_row(lease: coordination_pb2.Lease, now: datetime.datetime, wide: bool) -> list[str]:
    return [lease.metadata.name, lease.spec.holder_identity, age(lease.metadata.creation_timestamp, now)]


# ----------------------------------------------------------------- tables


RowFunction = Callable[[Any, datetime.datetime, bool], list[str]]


@dataclass(frozen=True)
class TableSpec:
    headers: tuple[str, ...]
    wide_headers: tuple[str, ...]
    row: RowFunction


TABLES: dict[str, TableSpec] = {
    "Pod": TableSpec(("NAME", "READY", "STATUS", "RESTARTS", "AGE"), ("IP", "NODE"), pod_row),
    "Deployment": TableSpec(("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"),
                            ("CONTAINERS", "IMAGES", "SELECTOR"), deployment_row),
    "ReplicaSet": TableSpec(("NAME", "DESIRED", "CURRENT", "READY", "AGE"),
                            ("CONTAINERS", "IMAGES", "SELECTOR"), replica_set_row),
    "Node": TableSpec(("NAME", "STATUS", "ROLES", "AGE", "VERSION"),
                      ("INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"), node_row),
    "Namespace": TableSpec(("NAME", "STATUS", "AGE"), (), namespace_row),
    "Event": TableSpec(("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"), (), event_row),
    "Lease": TableSpec(("NAME", "HOLDER", "AGE"), (), lease_row),
}
# Wide events rearrange columns rather than append them.
EVENT_WIDE_HEADERS = ("LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE",
                      "FIRST SEEN", "COUNT", "NAME")


@dataclass(frozen=True)
class TableOptions:
    wide: bool = False
    with_namespace: bool = False  # -A on a namespaced kind: NAMESPACE comes first
    show_labels: bool = False
    with_kind: bool = False  # several kinds in one get: NAME becomes deployment.apps/web


def table_headers(info: KindInfo, options: TableOptions) -> list[str]:
    spec = TABLES[info.kind]
    if info.kind == "Event" and options.wide:
        headers = list(EVENT_WIDE_HEADERS)
    else:
        headers = [*spec.headers, *(spec.wide_headers if options.wide else ())]
    return _decorate(headers, "NAMESPACE", "LABELS", options)


def table_row(obj: Message, now: datetime.datetime, options: TableOptions) -> list[str]:
    kind = info_of(obj).kind
    cells = TABLES[kind].row(obj, now, options.wide)
    if options.with_kind and kind != "Event":  # an event row has no NAME column to prefix
        cells[0] = object_ref(obj)
    return _decorate(cells, obj.metadata.namespace, format_labels(obj.metadata.labels), options)


def _decorate(cells: list[str], namespace: str, labels: str, options: TableOptions) -> list[str]:
    if options.with_namespace:
        cells = [namespace, *cells]
    if options.show_labels:
        cells = [*cells, labels]
    return cells


# Go's tabwriter as kubectl configures it: cells padded to the widest plus 3, at least 6.
COLUMN_PADDING = 3
MIN_COLUMN_WIDTH = 6


class TableWriter:
    """Aligns rows into columns; remembers widths so later rows (a watch) line up with earlier ones."""

    def __init__(self, headers: Sequence[str]) -> None:
        self.headers = list(headers)
        self.widths: list[int] = [0] * len(headers)
        self.header_written = False

    def lines(self, rows: Iterable[Sequence[str]]) -> list[str]:
        """The text lines for rows, preceded by the header the first time."""
        batch = [list(row) for row in rows]
        if not self.header_written:
            batch.insert(0, self.headers)
            self.header_written = True
        for row in batch:
            for column, cell in enumerate(row[:-1]):
                self.widths[column] = max(self.widths[column], MIN_COLUMN_WIDTH, len(cell) + COLUMN_PADDING)
        return [self._line(row) for row in batch]

    def _line(self, row: Sequence[str]) -> str:
        padded = [cell.ljust(self.widths[column]) for column, cell in enumerate(row[:-1])]
        return "".join(padded) + (row[-1] if row else "")


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A whole table as kubectl prints it, ending with a newline."""
    return "".join(line + "\n" for line in TableWriter(headers).lines(rows))


# ---------------------------------------------------- yaml, json and names


def list_dict(objects: Sequence[Message]) -> dict[str, Any]:
    """Several objects the way ``kubectl get -o yaml`` wraps them."""
    return {"apiVersion": "v1", "items": [to_dict(obj) for obj in objects], "kind": "List",
            "metadata": {"resourceVersion": ""}}


def output_dict(objects: Sequence[Message], as_list: bool) -> dict[str, Any]:
    return list_dict(objects) if as_list or len(objects) != 1 else to_dict(objects[0])


def to_yaml(data: dict[str, Any]) -> str:
    # kubectl's YAML has its keys sorted, which puts apiVersion, kind, metadata, spec, status in order.
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False, allow_unicode=True)


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=4, ensure_ascii=False) + "\n"


def name_line(obj: Message) -> str:
    """``deployment.apps/web``, as ``-o name`` prints it."""
    return object_ref(obj)
