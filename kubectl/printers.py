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
from apimachinery.duration import human_duration
from apimachinery.kinds import KindInfo, info_of
from kubectl.describe_text import rfc3339
from kubectl.resources import object_ref
from protos import apps_pb2, coordination_pb2, core_pb2, discovery_pb2, meta_pb2, rbac_pb2

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


# -------------------------------------------------------------- services


def service_ports(ports: Iterable[core_pb2.ServicePort]) -> str:
    """``3050:31515/TCP,8080/TCP`` (kubectl's makePortString)."""
    return ",".join(f"{p.port}:{p.node_port}/{p.protocol}" if p.node_port else f"{p.port}/{p.protocol}"
                    for p in ports)


def service_row(svc: core_pb2.Service, now: datetime.datetime, wide: bool) -> list[str]:
    spec = svc.spec
    cluster_ip = spec.cluster_ips[0] if spec.cluster_ips else (spec.cluster_ip or NONE)
    # EXTERNAL-IP: pykube has neither externalIPs nor load balancers.
    row = [svc.metadata.name, spec.type, cluster_ip, NONE, service_ports(spec.ports) or NONE,
           age(svc.metadata.creation_timestamp, now)]
    if wide:
        row.append(format_labels(spec.selector))
    return row


LIST_MAX = 3  # kubectl shows the first three ports or addresses of a slice


def _first_few(items: Sequence[str]) -> str:
    """kubectl's listWithMoreString: ``a,b,c + 2 more...``, or ``<unset>``."""
    text = ",".join(items[:LIST_MAX])
    if len(items) > LIST_MAX:
        return f"{text} + {len(items) - LIST_MAX} more..."
    return text or "<unset>"


def endpoint_slice_row(eps: discovery_pb2.EndpointSlice, now: datetime.datetime, wide: bool) -> list[str]:
    ports = [str(p.port) if p.HasField("port") else (p.name if p.HasField("name") else "*") for p in eps.ports]
    addresses = [address for endpoint in eps.endpoints for address in endpoint.addresses]
    return [eps.metadata.name, eps.address_type, _first_few(ports), _first_few(addresses),
            age(eps.metadata.creation_timestamp, now)]


# ------------------------------------------------- namespaces, events, leases


def namespace_row(namespace: core_pb2.Namespace, now: datetime.datetime, wide: bool) -> list[str]:
    return [namespace.metadata.name, namespace.status.phase, age(namespace.metadata.creation_timestamp, now)]


def event_last_seen(event: core_pb2.Event, now: datetime.datetime) -> str:
    """``get events``' LAST SEEN: the age of lastTimestamp (firstTimestamp when unset).

    kubectl's printEvent shows only that; the count lives in the wide COUNT column.
    """
    first = age(event.first_timestamp, now)
    return age(event.last_timestamp, now) if event.HasField("last_timestamp") else first


def event_interval(event: core_pb2.Event, now: datetime.datetime) -> str:
    """``describe``'s Age column: ``2m``, or ``2m (x3 over 10m)`` for a repeated event."""
    first = age(event.first_timestamp, now)
    if event.count > 1:
        return f"{event_last_seen(event, now)} (x{event.count} over {first})"
    return first


def event_object(event: core_pb2.Event) -> str:
    """``pod/web-x7k2p``: the involved object's kind, lower-cased, and name."""
    involved = event.involved_object
    kind = involved.kind.lower()
    return f"{kind}/{involved.name}" if involved.name else kind


def event_row(event: core_pb2.Event, now: datetime.datetime, wide: bool) -> list[str]:
    involved = event.involved_object
    message = event.message.strip()
    if not wide:
        return [event_last_seen(event, now), event.type, event.reason, event_object(event), message]
    source = event.source.component or event.reporting_component
    if event.source.host:
        source = f"{source}, {event.source.host}"
    return [event_last_seen(event, now), event.type, event.reason, event_object(event), involved.field_path, source,
            message, age(event.first_timestamp, now), str(event.count or 1), event.metadata.name]


def lease_row(lease: coordination_pb2.Lease, now: datetime.datetime, wide: bool) -> list[str]:
    return [lease.metadata.name, lease.spec.holder_identity, age(lease.metadata.creation_timestamp, now)]


# ------------------------------------------------------------------- rbac


def role_row(role: rbac_pb2.Role | rbac_pb2.ClusterRole, now: datetime.datetime, wide: bool) -> list[str]:
    """Roles show when they were made, not their age (kubectl's printRole: CREATED AT, RFC 3339)."""
    created = role.metadata.creation_timestamp
    return [role.metadata.name, rfc3339(created.ToDatetime(tzinfo=datetime.timezone.utc))
            if created.seconds or created.nanos else UNKNOWN]


def role_binding_row(binding: rbac_pb2.RoleBinding | rbac_pb2.ClusterRoleBinding, now: datetime.datetime,
                     wide: bool) -> list[str]:
    """ROLE is ``Role/x`` or ``ClusterRole/x``; wide adds USERS, GROUPS, SERVICEACCOUNTS (namespace/name)."""
    row = [binding.metadata.name, f"{binding.role_ref.kind}/{binding.role_ref.name}",
           age(binding.metadata.creation_timestamp, now)]
    if wide:
        subjects = binding.subjects
        row += [", ".join(s.name for s in subjects if s.kind == "User"),
                ", ".join(s.name for s in subjects if s.kind == "Group"),
                ", ".join(f"{s.namespace}/{s.name}" for s in subjects if s.kind == "ServiceAccount")]
    return row


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
    "Service": TableSpec(("NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"), ("SELECTOR",), service_row),
    "EndpointSlice": TableSpec(("NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"), (), endpoint_slice_row),
    "Role": TableSpec(("NAME", "CREATED AT"), (), role_row),
    "ClusterRole": TableSpec(("NAME", "CREATED AT"), (), role_row),
    "RoleBinding": TableSpec(("NAME", "ROLE", "AGE"), ("USERS", "GROUPS", "SERVICEACCOUNTS"), role_binding_row),
    "ClusterRoleBinding": TableSpec(("NAME", "ROLE", "AGE"), ("USERS", "GROUPS", "SERVICEACCOUNTS"),
                                    role_binding_row),
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

    def __init__(self, headers: Sequence[str], show_headers: bool = True) -> None:
        self.headers = list(headers)
        self.widths: list[int] = [0] * len(headers)
        self.header_written = not show_headers  # --no-headers: as if it had been written

    def lines(self, rows: Iterable[Sequence[str]]) -> list[str]:
        """The text lines for rows, preceded by the header the first time (unless --no-headers)."""
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


def without_managed_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The document without ``metadata.managedFields`` (its own and its items'), as kubectl
    prints yaml and json unless ``--show-managed-fields``: the field owners are server
    bookkeeping, long and rarely what a reader is after."""
    if "items" in data and isinstance(data["items"], list):
        return {**data, "items": [without_managed_fields(item) if isinstance(item, dict) else item
                                  for item in data["items"]]}
    meta = data.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return data
    return {**data, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def to_yaml(data: dict[str, Any]) -> str:
    # kubectl's YAML has its keys sorted, which puts apiVersion, kind, metadata, spec, status in order.
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False, allow_unicode=True)


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=4, ensure_ascii=False) + "\n"


def name_line(obj: Message) -> str:
    """``deployment.apps/web``, as ``-o name`` prints it."""
    return object_ref(obj)
