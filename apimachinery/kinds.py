"""The kinds the API serves, and how each is named (kind, plural, short names, categories)."""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.message import Message

from protos import api_pb2, apps_pb2, batch_pb2, coordination_pb2, core_pb2, discovery_pb2, rbac_pb2, storage_pb2

RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class KindInfo:
    kind: str  # "Deployment"
    api_version: str  # "apps/v1"
    plural: str  # "deployments"
    namespaced: bool
    message: type[Message]
    oneof_field: str  # the api_pb2.Object field that carries it
    short_names: tuple[str, ...] = field(default=())
    # Kubernetes' resource categories: "all" is what `kubectl get all` expands to.
    categories: tuple[str, ...] = field(default=())

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group(self) -> str:
        """"apps" for apps/v1; "" for the core group (v1)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def has_status(self) -> bool:
        """Whether the kind has a status (and so a status subresource)."""
        return "status" in self.message.DESCRIPTOR.fields_by_name


ALL = ("all",)  # the category of Pods, Services, Deployments and ReplicaSets in Kubernetes

KINDS: tuple[KindInfo, ...] = (
    KindInfo("Pod", "v1", "pods", True, core_pb2.Pod, "pod", ("po",), ALL),
    KindInfo("Node", "v1", "nodes", False, core_pb2.Node, "node", ("no",)),
    KindInfo("Namespace", "v1", "namespaces", False, core_pb2.Namespace, "namespace", ("ns",)),
    KindInfo("Event", "v1", "events", True, core_pb2.Event, "event", ("ev",)),
    KindInfo("Deployment", "apps/v1", "deployments", True, apps_pb2.Deployment, "deployment", ("deploy",), ALL),
    KindInfo("ReplicaSet", "apps/v1", "replicasets", True, apps_pb2.ReplicaSet, "replica_set", ("rs",), ALL),
    KindInfo("DaemonSet", "apps/v1", "daemonsets", True, apps_pb2.DaemonSet, "daemon_set", ("ds",), ALL),
    KindInfo("StatefulSet", "apps/v1", "statefulsets", True, apps_pb2.StatefulSet, "stateful_set", ("sts",), ALL),
    KindInfo("Lease", "coordination.k8s.io/v1", "leases", True, coordination_pb2.Lease, "lease"),
    KindInfo("Service", "v1", "services", True, core_pb2.Service, "service", ("svc",), ALL),
    KindInfo("EndpointSlice", "discovery.k8s.io/v1", "endpointslices", True, discovery_pb2.EndpointSlice,
             "endpoint_slice"),
    KindInfo("ConfigMap", "v1", "configmaps", True, core_pb2.ConfigMap, "config_map", ("cm",)),
    KindInfo("Secret", "v1", "secrets", True, core_pb2.Secret, "secret"),
    # RBAC kinds have no short names in Kubernetes.
    KindInfo("Role", f"{RBAC_GROUP}/v1", "roles", True, rbac_pb2.Role, "role"),
    KindInfo("ClusterRole", f"{RBAC_GROUP}/v1", "clusterroles", False, rbac_pb2.ClusterRole, "cluster_role"),
    KindInfo("RoleBinding", f"{RBAC_GROUP}/v1", "rolebindings", True, rbac_pb2.RoleBinding, "role_binding"),
    KindInfo("ClusterRoleBinding", f"{RBAC_GROUP}/v1", "clusterrolebindings", False, rbac_pb2.ClusterRoleBinding,
             "cluster_role_binding"),
    # batch/v1 (issue 14): a Job has no short name in Kubernetes.
    KindInfo("Job", "batch/v1", "jobs", True, batch_pb2.Job, "job", (), ALL),
    KindInfo("CronJob", "batch/v1", "cronjobs", True, batch_pb2.CronJob, "cron_job", ("cj",), ALL),
    # storage (issue 14): PersistentVolume and StorageClass are cluster-scoped.
    KindInfo("PersistentVolume", "v1", "persistentvolumes", False, core_pb2.PersistentVolume,
             "persistent_volume", ("pv",)),
    KindInfo("PersistentVolumeClaim", "v1", "persistentvolumeclaims", True, core_pb2.PersistentVolumeClaim,
             "persistent_volume_claim", ("pvc",)),
    KindInfo("StorageClass", "storage.k8s.io/v1", "storageclasses", False, storage_pb2.StorageClass,
             "storage_class", ("sc",)),
)

BY_KIND: dict[str, KindInfo] = {k.kind: k for k in KINDS}
_BY_ONEOF: dict[str, KindInfo] = {k.oneof_field: k for k in KINDS}
_BY_ANY_NAME: dict[str, KindInfo] = {}
for _info in KINDS:
    for _name in (_info.kind.lower(), _info.singular, _info.plural, *_info.short_names):
        _BY_ANY_NAME[_name] = _info
# kubectl also accepts events.events.k8s.io etc.; "event" family spelled both ways.


class UnknownKindError(ValueError):
    pass


def kind_info(kind: str) -> KindInfo:
    """Look up a kind by its exact Kind name ("Pod")."""
    try:
        return BY_KIND[kind]
    except KeyError:
        known = ", ".join(BY_KIND)
        raise UnknownKindError(f'no kind "{kind}" is served (known kinds: {known})') from None


def resolve_resource(name: str) -> KindInfo:
    """Resolve what a user types on the command line: "po", "pods", "Pod", "deploy"..."""
    info = _BY_ANY_NAME.get(name.lower()) or _BY_ANY_NAME.get(name.lower().split(".", 1)[0])
    if info is None:
        raise UnknownKindError(f'the server doesn\'t have a resource type "{name}"')
    return info


def wrap(obj: Message) -> api_pb2.Object:
    """Put a typed object (Pod, Deployment, ...) into the generic api_pb2.Object."""
    for info in KINDS:
        if isinstance(obj, info.message):
            wrapped = api_pb2.Object()
            getattr(wrapped, info.oneof_field).CopyFrom(obj)
            return wrapped
    raise UnknownKindError(f"not an API object: {type(obj).__name__}")


def unwrap(wrapped: api_pb2.Object) -> Message:
    """The typed object inside an api_pb2.Object."""
    which = wrapped.WhichOneof("kind")
    if which is None:
        raise UnknownKindError("empty object: no kind set")
    return getattr(wrapped, which)


def info_of(obj: Message | api_pb2.Object) -> KindInfo:
    if isinstance(obj, api_pb2.Object):
        which = obj.WhichOneof("kind")
        if which is None:
            raise UnknownKindError("empty object: no kind set")
        return _BY_ONEOF[which]
    for info in KINDS:
        if isinstance(obj, info.message):
            return info
    raise UnknownKindError(f"not an API object: {type(obj).__name__}")
