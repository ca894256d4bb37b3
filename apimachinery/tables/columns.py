"""The columns of ``get``'s table for each kind: one definition for both faces of pykube.

The apiserver's HTTP face answers ``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``
with these columns (apiserver.rest.table), and the real kubectl prints them; pykubectl
prints the same columns itself (kubectl.printers). Both therefore show the same headers and
cells, by construction.

A column carries what Kubernetes' ``metav1.TableColumnDefinition`` carries: the name in
title case as the server sends it ("Nominated Node"; kubectl upper-cases it for the header),
a type (string, integer, date), a format (``name`` for the object's name), a priority
(0 always shown, 1 only with ``-o wide``) and a description (the field's API documentation).
A row always has a cell for every column, wide or not, as the server generates it; the
printer leaves out priority-1 columns unless asked for ``-o wide``.

The column names, types and descriptions are Kubernetes' (pkg/printers/internalversion's
AddHandlers, and the generic storage's default table for Roles: Name and Created At).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Callable, Union

from google.protobuf.message import Message

from apimachinery.duration import human_duration
from apimachinery.kinds import info_of
from apimachinery.tables import cells
from apimachinery.tables.cells import NONE, age
from apimachinery.timestamps import rfc3339_utc
from protos import apps_pb2, batch_pb2, coordination_pb2, core_pb2, discovery_pb2, rbac_pb2, storage_pb2

Cell = Union[str, int]
RowFunction = Callable[[Any, datetime.datetime], list[Cell]]


@dataclass(frozen=True)
class Column:
    name: str  # as the server sends it: "Nominated Node"
    type: str = "string"  # string, integer, date (the OpenAPI type of the cells)
    description: str = ""
    priority: int = 0  # 0: always shown; 1: only with -o wide
    format: str = ""  # "name": the object's name (kubectl prefixes it with the kind)

    @property
    def header(self) -> str:
        """What kubectl prints over the column: the name upper-cased."""
        return self.name.upper()

    def definition(self) -> dict[str, Any]:
        """The column as a meta.k8s.io/v1 TableColumnDefinition."""
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


@dataclass(frozen=True)
class TableSpec:
    columns: tuple[Column, ...]
    row: RowFunction  # every column's cell, wide or not

    def shown(self, wide: bool) -> list[int]:
        """The indexes of the columns a printer shows: all with -o wide, else priority 0."""
        return [i for i, column in enumerate(self.columns) if wide or column.priority == 0]

    def name_column(self) -> int | None:
        """The column kubectl prefixes with the kind (``deployment.apps/web``) for several kinds."""
        return next((i for i, c in enumerate(self.columns) if c.format == "name" and c.type == "string"), None)


# ------------------------------------------------- Kubernetes' descriptions

NAME = ("Name must be unique within a namespace. Is required when creating resources, although some resources "
        "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
        "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
CREATION_TIMESTAMP = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this value. "
    "It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
CONTAINERS = "Names of each container in the template."
IMAGES = "Images referenced by each container in the template."

NAME_COLUMN = Column("Name", format="name", description=NAME)
AGE_COLUMN = Column("Age", description=CREATION_TIMESTAMP)


def _wide(name: str, description: str) -> Column:
    return Column(name, description=description, priority=1)


# -------------------------------------------------------------------- pods

POD_COLUMNS = (
    NAME_COLUMN,
    Column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", description="The aggregate status of the containers in this pod."),
    Column("Restarts", description="The number of times the containers in this pod have been restarted and when "
                                   "the last container in this pod has restarted."),
    AGE_COLUMN,
    _wide("IP", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
                "allocated."),
    _wide("Node", "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for "
                  "scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for "
                  "this node becomes responsible for the lifecycle of this pod."),
    _wide("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node, but it "
                            "cannot be scheduled right away as preemption victims receive their graceful "
                            "termination periods."),
    _wide("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness. A pod is "
                             "ready when all its containers are ready AND all conditions specified in the "
                             "readiness gates have status equal to \"True\""),
)


def pod_row(pod: core_pb2.Pod, now: datetime.datetime) -> list[Cell]:
    # pykube's scheduler does not preempt and pods have no readiness gates: both are <none>.
    return [pod.metadata.name, cells.pod_ready(pod), cells.pod_status(pod), cells.pod_restarts(pod, now),
            age(pod.metadata.creation_timestamp, now), cells.pod_ip(pod), pod.spec.node_name or NONE, NONE, NONE]


# --------------------------------------------------------------- workloads


def _template_columns(selector: str) -> tuple[Column, ...]:
    return (_wide("Containers", CONTAINERS), _wide("Images", IMAGES), _wide("Selector", selector))


DEPLOYMENT_COLUMNS = (
    NAME_COLUMN,
    Column("Ready", description="Number of the pod with ready state"),
    Column("Up-to-date", description="Total number of non-terminating pods targeted by this deployment that have "
                                     "the desired template spec."),
    Column("Available", description="Total number of available non-terminating pods (ready for at least "
                                    "minReadySeconds) targeted by this deployment."),
    AGE_COLUMN,
    *_template_columns("Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the "
                       "ones affected by this deployment. It must match the pod template's labels."),
)


def deployment_row(deployment: apps_pb2.Deployment, now: datetime.datetime) -> list[Cell]:
    spec, status = deployment.spec, deployment.status
    desired = spec.replicas if spec.HasField("replicas") else 1
    return [deployment.metadata.name, f"{status.ready_replicas}/{desired}", status.updated_replicas,
            status.available_replicas, age(deployment.metadata.creation_timestamp, now),
            cells.container_names(spec.template), cells.container_images(spec.template),
            cells.format_selector(spec.selector)]


REPLICA_SET_COLUMNS = (
    NAME_COLUMN,
    Column("Desired", "integer", "Replicas is the number of desired pods. This is a pointer to distinguish between "
                                 "explicit zero and unspecified. Defaults to 1."),
    Column("Current", "integer", "Replicas is the most recently observed number of non-terminating pods."),
    Column("Ready", "integer", "The number of non-terminating pods targeted by this ReplicaSet with a Ready "
                               "Condition."),
    AGE_COLUMN,
    *_template_columns("Selector is a label query over pods that should match the replica count. Label keys and "
                       "values that must match in order to be controlled by this replica set. It must match the "
                       "pod template's labels."),
)


def replica_set_row(replica_set: apps_pb2.ReplicaSet, now: datetime.datetime) -> list[Cell]:
    spec, status = replica_set.spec, replica_set.status
    desired = spec.replicas if spec.HasField("replicas") else 1
    return [replica_set.metadata.name, desired, status.replicas, status.ready_replicas,
            age(replica_set.metadata.creation_timestamp, now), cells.container_names(spec.template),
            cells.container_images(spec.template), cells.format_selector(spec.selector)]


DAEMON_SET_COLUMNS = (
    NAME_COLUMN,
    Column("Desired", "integer", "The total number of nodes that should be running the daemon pod (including "
                                 "nodes correctly running the daemon pod)."),
    Column("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to "
                                 "run the daemon pod."),
    Column("Ready", "integer", "numberReady is the number of nodes that should be running the daemon pod and have "
                               "one or more of the daemon pod running with a Ready Condition."),
    Column("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    Column("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more "
                                   "of the daemon pod running and available (ready for at least "
                                   "spec.minReadySeconds)"),
    Column("Node Selector", description="NodeSelector is a selector which must be true for the pod to fit on a "
                                        "node. Selector which must match a node's labels for the pod to be "
                                        "scheduled on that node."),
    AGE_COLUMN,
    *_template_columns("A label query over pods that are managed by the daemon set. Must match in order to be "
                       "controlled. It must match the pod template's labels."),
)


def daemon_set_row(daemon_set: apps_pb2.DaemonSet, now: datetime.datetime) -> list[Cell]:
    spec, status = daemon_set.spec, daemon_set.status
    node_selector = cells.format_labels(spec.template.spec.node_selector)
    return [daemon_set.metadata.name, status.desired_number_scheduled, status.current_number_scheduled,
            status.number_ready, status.updated_number_scheduled, status.number_available, node_selector,
            age(daemon_set.metadata.creation_timestamp, now), cells.container_names(spec.template),
            cells.container_images(spec.template), cells.format_selector(spec.selector)]


STATEFUL_SET_COLUMNS = (
    NAME_COLUMN,
    Column("Ready", description="Number of the pod with ready state"),
    AGE_COLUMN,
    _wide("Containers", CONTAINERS),
    _wide("Images", IMAGES),
)


def stateful_set_row(stateful_set: apps_pb2.StatefulSet, now: datetime.datetime) -> list[Cell]:
    spec, status = stateful_set.spec, stateful_set.status
    desired = spec.replicas if spec.HasField("replicas") else 1
    return [stateful_set.metadata.name, f"{status.ready_replicas}/{desired}",
            age(stateful_set.metadata.creation_timestamp, now), cells.container_names(spec.template),
            cells.container_images(spec.template)]


# ------------------------------------------------------------------- nodes

ADDRESSES = "List of addresses reachable to the node. Queried from cloud provider, if available."
NODE_COLUMNS = (
    NAME_COLUMN,
    Column("Status", description="The status of the node"),
    Column("Roles", description="The roles of the node"),
    AGE_COLUMN,
    Column("Version", description="Kubelet Version reported by the node."),
    _wide("Internal-IP", ADDRESSES),
    _wide("External-IP", ADDRESSES),
    _wide("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    _wide("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    _wide("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API "
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
    _wide("Selector", "Route service traffic to pods with label keys and values matching this selector."),
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
    _wide("Subobject", "If referring to a piece of an object instead of an entire object, this string should "
                       "contain a valid JSON/Go field access statement, such as "
                       "desiredState.manifest.containers[2]."),
    _wide("Source", "The component reporting this event. Should be a short machine understandable string."),
    Column("Message", description="A human-readable description of the status of this operation."),
    _wide("First Seen", "The time at which the event was first recorded. (Time of server receipt is in "
                        "TypeMeta.)"),
    _wide("Count", "The number of times this event has occurred."),
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
            _wide("Users", f"Users in the {kind}"), _wide("Groups", f"Groups in the {kind}"),
            _wide("ServiceAccounts", f"ServiceAccounts in the {kind}"))


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


# ------------------------------------------------------------------ tables

# ------------------------------------------------------------------- batch (issue 14)

JOB_COLUMNS = (
    NAME_COLUMN,
    Column("Status", description="Status of the job."),
    Column("Completions", description="The number of pods which reached phase Succeeded. The value increases "
                                      "monotonically for a given spec. However, it may decrease in reaction to "
                                      "scale down of elastic indexed jobs."),
    Column("Duration", description="Time required to complete the job."),
    AGE_COLUMN,
    *_template_columns("A label query over pods that should match the pod count. Normally, the system sets this "
                       "field for you."),
)


def job_status(job: batch_pb2.Job) -> str:
    """printJob's STATUS: Complete, Failed, Terminating, Suspended, FailureTarget or Running."""
    conditions = job.status.conditions
    if cells.condition_true(conditions, "Complete"):
        return "Complete"
    if cells.condition_true(conditions, "Failed"):
        return "Failed"
    if job.metadata.HasField("deletion_timestamp"):
        return "Terminating"
    if cells.condition_true(conditions, "Suspended"):
        return "Suspended"
    if cells.condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def job_completions(spec: batch_pb2.JobSpec, succeeded: int) -> str:
    if spec.HasField("completions"):
        return f"{succeeded}/{spec.completions}"
    if spec.parallelism > 1:
        return f"{succeeded}/1 of {spec.parallelism}"
    return f"{succeeded}/1"


def job_duration(status: batch_pb2.JobStatus, now: datetime.datetime) -> str:
    if not status.HasField("start_time"):
        return ""
    start = status.start_time.ToDatetime(tzinfo=datetime.timezone.utc)
    end = status.completion_time.ToDatetime(tzinfo=datetime.timezone.utc) \
        if status.HasField("completion_time") else now
    return human_duration(end - start)


def job_row(job: batch_pb2.Job, now: datetime.datetime) -> list[Cell]:
    spec = job.spec
    return [job.metadata.name, job_status(job), job_completions(spec, job.status.succeeded),
            job_duration(job.status, now), age(job.metadata.creation_timestamp, now),
            cells.container_names(spec.template), cells.container_images(spec.template),
            cells.format_selector(spec.selector)]


CRON_JOB_COLUMNS = (
    NAME_COLUMN,
    Column("Schedule", description="The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    Column("Timezone", description="The time zone name for the given schedule, see "
                                   "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
    Column("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions, it does not "
                                 "apply to already started executions.  Defaults to false."),
    Column("Active", "integer", "A list of pointers to currently running jobs."),
    Column("Last Schedule", description="Information when was the last time the job was successfully scheduled."),
    AGE_COLUMN,
    *_template_columns("A label query over pods that should match the pod count. Normally, the system sets this "
                       "field for you."),
)


def cron_job_row(cron_job: batch_pb2.CronJob, now: datetime.datetime) -> list[Cell]:
    spec, status = cron_job.spec, cron_job.status
    template = spec.job_template.spec.template
    return [cron_job.metadata.name, spec.schedule, spec.time_zone if spec.HasField("time_zone") else NONE,
            ("True" if spec.suspend else "False") if spec.HasField("suspend") else cells.UNSET,
            len(status.active),
            age(status.last_schedule_time, now) if status.HasField("last_schedule_time") else NONE,
            age(cron_job.metadata.creation_timestamp, now), cells.container_names(template),
            cells.container_images(template), cells.format_selector(spec.job_template.spec.selector)]


# ------------------------------------------------- storage: PersistentVolume, PersistentVolumeClaim, StorageClass

# kubectl prints access modes abbreviated (helper.GetAccessModesAsString), in this order.
_ACCESS_MODE_SHORT = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                      ("ReadWriteOncePod", "RWOP"))
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def access_modes_text(modes: Any) -> str:
    present = set(modes)
    return ",".join(short for mode, short in _ACCESS_MODE_SHORT if mode in present)


PERSISTENT_VOLUME_COLUMNS = (
    NAME_COLUMN,
    Column("Capacity", description="capacity is the description of the persistent volume's resources and capacity."),
    Column("Access Modes", description="accessModes contains all ways the volume can be mounted."),
    Column("Reclaim Policy", description="persistentVolumeReclaimPolicy defines what happens to a persistent "
                                         "volume when released from its claim."),
    Column("Status", description="phase indicates if a volume is available, bound to a claim, or released by a "
                                 "claim."),
    Column("Claim", description="claimRef is part of a bi-directional binding between PersistentVolume and "
                                "PersistentVolumeClaim."),
    Column("StorageClass", description="StorageClass of the pv"),
    Column("VolumeAttributesClass", description="VolumeAttributesClass of the pv"),
    Column("Reason", description="reason is a brief CamelCase string that describes any failure and is meant for "
                                 "machine parsing and tidy display in the CLI."),
    AGE_COLUMN,
    Column("VolumeMode", description="volumeMode defines if a volume is intended to be used with a formatted "
                                     "filesystem or to remain in raw block state.", priority=1),
)


def persistent_volume_row(pv: core_pb2.PersistentVolume, now: datetime.datetime) -> list[Cell]:
    spec = pv.spec
    claim = f"{spec.claim_ref.namespace}/{spec.claim_ref.name}" if spec.claim_ref.name else ""
    return [pv.metadata.name, spec.capacity.get("storage", ""), access_modes_text(spec.access_modes),
            spec.persistent_volume_reclaim_policy, pv.status.phase, claim, spec.storage_class_name, cells.UNSET,
            pv.status.reason, age(pv.metadata.creation_timestamp, now), spec.volume_mode or "Filesystem"]


PERSISTENT_VOLUME_CLAIM_COLUMNS = (
    NAME_COLUMN,
    Column("Status", description="phase represents the current phase of PersistentVolumeClaim."),
    Column("Volume", description="volumeName is the binding reference to the PersistentVolume backing this "
                                 "claim."),
    Column("Capacity", description="capacity represents the actual resources of the underlying volume."),
    Column("Access Modes", description="accessModes contains the actual access modes the volume backing the PVC "
                                       "has."),
    Column("StorageClass", description="StorageClass of the pvc"),
    Column("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"),
    AGE_COLUMN,
    Column("VolumeMode", description="volumeMode defines what type of volume is required by the claim.",
           priority=1),
)


def persistent_volume_claim_row(pvc: core_pb2.PersistentVolumeClaim, now: datetime.datetime) -> list[Cell]:
    spec, status = pvc.spec, pvc.status
    # kubectl shows capacity and access modes only once the claim is bound (from the status).
    bound = bool(spec.volume_name)
    return [pvc.metadata.name, status.phase, spec.volume_name,
            status.capacity.get("storage", "") if bound else "",
            access_modes_text(status.access_modes) if bound else "", spec.storage_class_name, cells.UNSET,
            age(pvc.metadata.creation_timestamp, now), spec.volume_mode or "Filesystem"]


STORAGE_CLASS_COLUMNS = (
    NAME_COLUMN,
    Column("Provisioner", description="provisioner indicates the type of the provisioner."),
    Column("ReclaimPolicy", description="reclaimPolicy controls the reclaimPolicy for dynamically provisioned "
                                        "PersistentVolumes of this storage class. Defaults to Delete."),
    Column("VolumeBindingMode", description="volumeBindingMode indicates how PersistentVolumeClaims should be "
                                            "provisioned and bound.  When unset, VolumeBindingImmediate is used. "
                                            "This field is only honored by servers that enable the "
                                            "VolumeScheduling feature."),
    Column("AllowVolumeExpansion", description="allowVolumeExpansion shows whether the storage class allow volume "
                                               "expand."),
    AGE_COLUMN,
)


def storage_class_row(sc: storage_pb2.StorageClass, now: datetime.datetime) -> list[Cell]:
    name = sc.metadata.name
    if sc.metadata.annotations.get(DEFAULT_CLASS_ANNOTATION) == "true":
        name += " (default)"
    return [name, sc.provisioner, sc.reclaim_policy or "Delete", sc.volume_binding_mode or "Immediate",
            "true" if sc.allow_volume_expansion else "false", age(sc.metadata.creation_timestamp, now)]


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
