"""The columns of ``get``'s table for each kind: one definition for both faces of pykube.

The apiserver's HTTP face answers ``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``
with these columns (apiserver.rest.table), and the real kubectl prints them; pykubectl
prints the same columns itself (kubectl.printers). Both therefore show the same headers and
cells, by construction.

What a column is: :mod:`.spec`. The columns of the core kinds are here; those of the
workload kinds in :mod:`.workloads`, of storage in :mod:`.storage`; :data:`TABLES` names
each kind's.

The column names, types and descriptions are Kubernetes' (pkg/printers/internalversion's
AddHandlers, and the generic storage's default table for Roles: Name and Created At).
"""

from __future__ import annotations

import datetime

from google.protobuf.message import Message

from apimachinery.kinds import info_of
from apimachinery.tables import cells
from apimachinery.tables.cells import NONE, age
from apimachinery.tables.spec import (AGE_COLUMN, CREATION_TIMESTAMP, NAME, NAME_COLUMN, Cell, Column, TableSpec,
                                      wide_column)
from apimachinery.tables.storage import (PERSISTENT_VOLUME_CLAIM_COLUMNS, PERSISTENT_VOLUME_COLUMNS,
                                         STORAGE_CLASS_COLUMNS, persistent_volume_claim_row,
                                         persistent_volume_row, storage_class_row)
from apimachinery.tables.workloads import (CRON_JOB_COLUMNS, DAEMON_SET_COLUMNS, DEPLOYMENT_COLUMNS, JOB_COLUMNS,
                                           REPLICA_SET_COLUMNS, STATEFUL_SET_COLUMNS, cron_job_row,
                                           daemon_set_row, deployment_row, job_row, replica_set_row,
                                           stateful_set_row)
from apimachinery.timestamps import rfc3339_utc
from protos import coordination_pb2, core_pb2, discovery_pb2, rbac_pb2

__all__ = ["TABLES", "Cell", "Column", "TableSpec", "cell_text", "row_cells", "table_spec"]


# -------------------------------------------------------------------- pods

POD_COLUMNS = (
    NAME_COLUMN,
    Column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", description="The aggregate status of the containers in this pod."),
    Column("Restarts", description="The number of times the containers in this pod have been restarted and when "
                                   "the last container in this pod has restarted."),
    AGE_COLUMN,
    wide_column("IP", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
                "allocated."),
    wide_column("Node", "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for "
                  "scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for "
                  "this node becomes responsible for the lifecycle of this pod."),
    wide_column("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node, but it "
                            "cannot be scheduled right away as preemption victims receive their graceful "
                            "termination periods."),
    wide_column("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness. A pod is "
                             "ready when all its containers are ready AND all conditions specified in the "
                             "readiness gates have status equal to \"True\""),
)


def pod_row(pod: core_pb2.Pod, now: datetime.datetime) -> list[Cell]:
    # pykube's scheduler does not preempt and pods have no readiness gates: both are <none>.
    return [pod.metadata.name, cells.pod_ready(pod), cells.pod_status(pod), cells.pod_restarts(pod, now),
            age(pod.metadata.creation_timestamp, now), cells.pod_ip(pod), pod.spec.node_name or NONE, NONE, NONE]


# ------------------------------------------------------------------- nodes

ADDRESSES = "List of addresses reachable to the node. Queried from cloud provider, if available."
NODE_COLUMNS = (
    NAME_COLUMN,
    Column("Status", description="The status of the node"),
    Column("Roles", description="The roles of the node"),
    AGE_COLUMN,
    Column("Version", description="Kubelet Version reported by the node."),
    wide_column("Internal-IP", ADDRESSES),
    wide_column("External-IP", ADDRESSES),
    wide_column("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    wide_column("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    wide_column("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API "
                               "(e.g. containerd://1.4.2)."),
)


def node_row(node: core_pb2.Node, now: datetime.datetime) -> list[Cell]:
    info = node.status.node_info
    return [node.metadata.name, cells.node_status(node), cells.node_roles(node),
            age(node.metadata.creation_timestamp, now), info.kubelet_version,
            cells.node_address(node, "InternalIP"), cells.node_address(node, "ExternalIP"),
            cells.or_unknown(info.os_image), cells.or_unknown(info.kernel_version),
            cells.or_unknown(info.container_runtime_version)]


# ---------------------------------------------------------------- services

SERVICE_COLUMNS = (
    NAME_COLUMN,
    Column("Type", description="type determines how the Service is exposed. Defaults to ClusterIP. Valid options "
                               "are ExternalName, ClusterIP, NodePort, and LoadBalancer."),
    Column("Cluster-IP", description="clusterIP is the IP address of the service and is usually assigned "
                                     "randomly."),
    Column("External-IP", description="externalIPs is a list of IP addresses for which nodes in the cluster will "
                                      "also accept traffic for this service."),
    Column("Port(s)", description="The list of ports that are exposed by this service."),
    AGE_COLUMN,
    wide_column("Selector", "Route service traffic to pods with label keys and values matching this selector."),
)


def service_row(svc: core_pb2.Service, now: datetime.datetime) -> list[Cell]:
    # EXTERNAL-IP: pykube has neither externalIPs nor load balancers.
    return [svc.metadata.name, svc.spec.type, cells.cluster_ip(svc), NONE, cells.service_ports(svc.spec.ports),
            age(svc.metadata.creation_timestamp, now), cells.format_labels(svc.spec.selector)]


ENDPOINT_SLICE_COLUMNS = (
    NAME_COLUMN,
    Column("AddressType", description="addressType specifies the type of address carried by this EndpointSlice."),
    Column("Ports", description="ports specifies the list of network ports exposed by each endpoint in this "
                                "slice."),
    Column("Endpoints", description="endpoints is a list of unique endpoints in this slice. Each slice may "
                                    "include a maximum of 1000 endpoints."),
    AGE_COLUMN,
)


def endpoint_slice_row(eps: discovery_pb2.EndpointSlice, now: datetime.datetime) -> list[Cell]:
    return [eps.metadata.name, eps.address_type, cells.slice_ports(eps), cells.slice_endpoints(eps),
            age(eps.metadata.creation_timestamp, now)]


# ------------------------------------------------- namespaces, events, leases

NAMESPACE_COLUMNS = (NAME_COLUMN, Column("Status", description="The status of the namespace"), AGE_COLUMN)


def namespace_row(namespace: core_pb2.Namespace, now: datetime.datetime) -> list[Cell]:
    return [namespace.metadata.name, namespace.status.phase, age(namespace.metadata.creation_timestamp, now)]


# Events rearrange rather than append: the wide columns sit between and after the others.
EVENT_COLUMNS = (
    Column("Last Seen", description="The time at which the most recent occurrence of this event was recorded."),
    Column("Type", description="Type of this event (Normal, Warning), new types could be added in the future"),
    Column("Reason", description="This should be a short, machine understandable string that gives the reason "
                                 "for the transition into the object's current status."),
    Column("Object", description="The object that this event is about."),
    wide_column("Subobject", "If referring to a piece of an object instead of an entire object, this string should "
                       "contain a valid JSON/Go field access statement, such as "
                       "desiredState.manifest.containers[2]."),
    wide_column("Source", "The component reporting this event. Should be a short machine understandable string."),
    Column("Message", description="A human-readable description of the status of this operation."),
    wide_column("First Seen", "The time at which the event was first recorded. (Time of server receipt is in "
                        "TypeMeta.)"),
    wide_column("Count", "The number of times this event has occurred."),
    Column("Name", format="name", description=NAME, priority=1),
)


def event_row(event: core_pb2.Event, now: datetime.datetime) -> list[Cell]:
    return [cells.event_last_seen(event, now), event.type, event.reason, cells.event_object(event),
            event.involved_object.field_path, cells.event_source(event), event.message.strip(),
            age(event.first_timestamp, now), cells.event_count(event), event.metadata.name]


LEASE_COLUMNS = (
    NAME_COLUMN,
    Column("Holder", description="holderIdentity contains the identity of the holder of a current lease."),
    AGE_COLUMN,
)


def lease_row(lease: coordination_pb2.Lease, now: datetime.datetime) -> list[Cell]:
    return [lease.metadata.name, lease.spec.holder_identity, age(lease.metadata.creation_timestamp, now)]


# ------------------------------------------------------------------- config

CONFIG_MAP_COLUMNS = (NAME_COLUMN, Column("Data", "integer", "Number of data in configmap"), AGE_COLUMN)
SECRET_COLUMNS = (
    NAME_COLUMN,
    Column("Type", description="The type of the secret"),
    Column("Data", "integer", "Number of data in secret"),
    AGE_COLUMN,
)


def config_map_row(cm: core_pb2.ConfigMap, now: datetime.datetime) -> list[Cell]:
    """DATA counts data and binaryData keys, as Kubernetes' printConfigMap does."""
    return [cm.metadata.name, len(cm.data) + len(cm.binary_data), age(cm.metadata.creation_timestamp, now)]


def secret_row(secret: core_pb2.Secret, now: datetime.datetime) -> list[Cell]:
    return [secret.metadata.name, secret.type, len(secret.data), age(secret.metadata.creation_timestamp, now)]


# -------------------------------------------------------------------- rbac

# Kubernetes has no printer for Roles: the generic storage's default table shows the name
# and when it was made (RFC 3339, UTC), not its age.
ROLE_COLUMNS = (NAME_COLUMN, Column("Created At", "date", CREATION_TIMESTAMP))


def role_row(role: rbac_pb2.Role | rbac_pb2.ClusterRole, now: datetime.datetime) -> list[Cell]:
    return [role.metadata.name, rfc3339_utc(role.metadata.creation_timestamp)]


def _binding_columns(kind: str, role_ref: str) -> tuple[Column, ...]:
    return (NAME_COLUMN, Column("Role", description=role_ref), AGE_COLUMN,
            wide_column("Users", f"Users in the {kind}"), wide_column("Groups", f"Groups in the {kind}"),
            wide_column("ServiceAccounts", f"ServiceAccounts in the {kind}"))


ROLE_BINDING_COLUMNS = _binding_columns(
    "roleBinding", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global "
                   "namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.")
CLUSTER_ROLE_BINDING_COLUMNS = _binding_columns(
    "clusterRoleBinding", "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef "
                          "cannot be resolved, the Authorizer must return an error.")


def role_binding_row(binding: rbac_pb2.RoleBinding | rbac_pb2.ClusterRoleBinding,
                     now: datetime.datetime) -> list[Cell]:
    """ROLE is ``Role/x`` or ``ClusterRole/x``; wide adds USERS, GROUPS, SERVICEACCOUNTS (namespace/name)."""
    subjects = binding.subjects
    return [binding.metadata.name, f"{binding.role_ref.kind}/{binding.role_ref.name}",
            age(binding.metadata.creation_timestamp, now), cells.subjects_of_kind(subjects, "User"),
            cells.subjects_of_kind(subjects, "Group"), cells.subjects_of_kind(subjects, "ServiceAccount")]


TABLES: dict[str, TableSpec] = {
    "Pod": TableSpec(POD_COLUMNS, pod_row),
    "Deployment": TableSpec(DEPLOYMENT_COLUMNS, deployment_row),
    "ReplicaSet": TableSpec(REPLICA_SET_COLUMNS, replica_set_row),
    "DaemonSet": TableSpec(DAEMON_SET_COLUMNS, daemon_set_row),
    "StatefulSet": TableSpec(STATEFUL_SET_COLUMNS, stateful_set_row),
    "Node": TableSpec(NODE_COLUMNS, node_row),
    "Namespace": TableSpec(NAMESPACE_COLUMNS, namespace_row),
    "Event": TableSpec(EVENT_COLUMNS, event_row),
    "Lease": TableSpec(LEASE_COLUMNS, lease_row),
    "Service": TableSpec(SERVICE_COLUMNS, service_row),
    "EndpointSlice": TableSpec(ENDPOINT_SLICE_COLUMNS, endpoint_slice_row),
    "ConfigMap": TableSpec(CONFIG_MAP_COLUMNS, config_map_row),
    "Secret": TableSpec(SECRET_COLUMNS, secret_row),
    "Role": TableSpec(ROLE_COLUMNS, role_row),
    "ClusterRole": TableSpec(ROLE_COLUMNS, role_row),
    "RoleBinding": TableSpec(ROLE_BINDING_COLUMNS, role_binding_row),
    "ClusterRoleBinding": TableSpec(CLUSTER_ROLE_BINDING_COLUMNS, role_binding_row),
    "Job": TableSpec(JOB_COLUMNS, job_row),
    "CronJob": TableSpec(CRON_JOB_COLUMNS, cron_job_row),
    "PersistentVolume": TableSpec(PERSISTENT_VOLUME_COLUMNS, persistent_volume_row),
    "PersistentVolumeClaim": TableSpec(PERSISTENT_VOLUME_CLAIM_COLUMNS, persistent_volume_claim_row),
    "StorageClass": TableSpec(STORAGE_CLASS_COLUMNS, storage_class_row),
}


def table_spec(kind: str) -> TableSpec:
    return TABLES[kind]


def row_cells(obj: Message, now: datetime.datetime) -> list[Cell]:
    """Every column's cell for one object (its kind's table)."""
    return TABLES[info_of(obj).kind].row(obj, now)


def cell_text(cell: Cell | bool | None) -> str:
    """A cell as kubectl prints it (Go's ``%v``): text as it is, numbers in decimal,
    ``true``/``false``, nothing for a null cell."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    return str(cell)
