"""The cells of ``get``'s tables: what each column shows for an object, at a given time.

Pure functions of objects and ``now`` (no clock is read here), following Kubernetes'
printers (k8s.io/kubernetes/pkg/printers/internalversion/printers.go): a pod's STATUS
(a container's waiting or terminated reason wins over the phase), RESTARTS with the age of
the last restart, a node's ROLES from its labels, a selector written as kubectl writes it.
The per-kind columns that use them are in :mod:`apimachinery.tables.columns`.
"""

from __future__ import annotations

import datetime
from typing import Any, Iterable, Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from apimachinery.duration import human_duration
from apimachinery.timestamps import is_unset
from protos import core_pb2, discovery_pb2, meta_pb2

NONE = "<none>"
UNKNOWN = "<unknown>"
UNSET = "<unset>"


# ----------------------------------------------------------------- generic


def age(timestamp: Timestamp, now: datetime.datetime) -> str:
    """Kubernetes' translateTimestampSince: ``<unknown>`` when unset, else a HumanDuration."""
    if is_unset(timestamp):
        return UNKNOWN
    return human_duration(now - timestamp.ToDatetime(tzinfo=datetime.timezone.utc))


def format_labels(labels: dict[str, str] | Any) -> str:
    """labels.FormatLabels: ``app=web,tier=b`` sorted by key, or ``<none>``."""
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels)) or NONE


def format_selector(selector: meta_pb2.LabelSelector) -> str:
    """metav1.FormatLabelSelector: ``app=web,tier in (a,b),!legacy``."""
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


def container_names(template: core_pb2.PodTemplateSpec) -> str:
    return ",".join(c.name for c in template.spec.containers) or NONE


def container_images(template: core_pb2.PodTemplateSpec) -> str:
    return ",".join(c.image for c in template.spec.containers) or NONE


def condition_true(conditions: Iterable[Any], condition_type: str) -> bool:
    return any(c.type == condition_type and c.status == "True" for c in conditions)


# -------------------------------------------------------------------- pods


def pod_status(pod: core_pb2.Pod) -> str:
    """The STATUS column: a container's waiting/terminated reason wins over the phase."""
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
        reason = "Running" if condition_true(pod.status.conditions, "Ready") else "NotReady"
    if pod.metadata.HasField("deletion_timestamp"):
        if pod.status.reason == "NodeLost":
            reason = "Unknown"
        elif pod.status.phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return reason or "Pending"


def pod_ready(pod: core_pb2.Pod) -> str:
    """READY: running-and-ready containers over all of them, ``1/2``."""
    ready = sum(1 for s in pod.status.container_statuses if s.ready and s.state.HasField("running"))
    return f"{ready}/{len(pod.spec.containers)}"


def pod_restarts(pod: core_pb2.Pod, now: datetime.datetime) -> str:
    """RESTARTS: the sum of restartCount, with ``(5s ago)`` for the latest restart."""
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


def pod_ip(pod: core_pb2.Pod) -> str:
    if pod.status.pod_ips:
        return pod.status.pod_ips[0].ip or NONE
    return pod.status.pod_ip or NONE


# ------------------------------------------------------------------- nodes

ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
LEGACY_ROLE_LABEL = "kubernetes.io/role"


def node_status(node: core_pb2.Node) -> str:
    """``Ready``, ``NotReady`` (Ready condition False or Unknown), ``Unknown`` (no condition yet),
    with ``,SchedulingDisabled`` for a cordoned node."""
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


def node_address(node: core_pb2.Node, address_type: str) -> str:
    return next((a.address for a in node.status.addresses if a.type == address_type), NONE)


def or_unknown(text: str) -> str:
    return text or UNKNOWN


# ---------------------------------------------------------------- services


def service_ports(ports: Iterable[core_pb2.ServicePort]) -> str:
    """``3050:31515/TCP,8080/TCP`` (makePortString), or ``<none>``."""
    return ",".join(f"{p.port}:{p.node_port}/{p.protocol}" if p.node_port else f"{p.port}/{p.protocol}"
                    for p in ports) or NONE


def cluster_ip(service: core_pb2.Service) -> str:
    spec = service.spec
    return spec.cluster_ips[0] if spec.cluster_ips else (spec.cluster_ip or NONE)


LIST_MAX = 3  # the first three ports or addresses of a slice are shown


def first_few(items: Sequence[str]) -> str:
    """listWithMoreString: ``a,b,c + 2 more...``, or ``<unset>``."""
    text = ",".join(items[:LIST_MAX])
    if len(items) > LIST_MAX:
        return f"{text} + {len(items) - LIST_MAX} more..."
    return text or UNSET


def slice_ports(eps: discovery_pb2.EndpointSlice) -> str:
    return first_few([str(p.port) if p.HasField("port") else (p.name if p.HasField("name") else "*")
                      for p in eps.ports])


def slice_endpoints(eps: discovery_pb2.EndpointSlice) -> str:
    return first_few([address for endpoint in eps.endpoints for address in endpoint.addresses])


# ------------------------------------------------------------------ events


def event_last_seen(event: core_pb2.Event, now: datetime.datetime) -> str:
    """LAST SEEN: the age of lastTimestamp (firstTimestamp when unset). The count lives in
    the wide COUNT column."""
    first = age(event.first_timestamp, now)
    return age(event.last_timestamp, now) if event.HasField("last_timestamp") else first


def event_interval(event: core_pb2.Event, now: datetime.datetime) -> str:
    """``describe``'s Age column: ``2m``, or ``2m (x3 over 10m)`` for a repeated event."""
    first = age(event.first_timestamp, now)
    if event.count > 1:
        return f"{event_last_seen(event, now)} (x{event.count} over {first})"
    return first


def event_object(event: core_pb2.Event) -> str:
    """OBJECT: ``pod/web-x7k2p``, the involved object's kind, lower-cased, and name."""
    involved = event.involved_object
    kind = involved.kind.lower()
    return f"{kind}/{involved.name}" if involved.name else kind


def event_source(event: core_pb2.Event) -> str:
    """SOURCE: ``kubelet, node-1`` (formatEventSource: the source, else the reporting fields)."""
    component = event.source.component or event.reporting_component
    instance = event.source.host or event.reporting_instance
    return f"{component}, {instance}" if instance else component


def event_count(event: core_pb2.Event) -> int:
    """COUNT: a singleton event written by the newer API has no count; it happened once."""
    return event.count or 1


# -------------------------------------------------------------------- rbac


def subjects_of_kind(subjects: Iterable[Any], kind: str) -> str:
    """USERS, GROUPS or SERVICEACCOUNTS of a binding (rbac.SubjectsStrings), ``, ``-joined."""
    if kind == "ServiceAccount":
        return ", ".join(f"{s.namespace}/{s.name}" for s in subjects if s.kind == kind)
    return ", ".join(s.name for s in subjects if s.kind == kind)
