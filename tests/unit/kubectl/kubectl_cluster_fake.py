"""A FakeAPI that also writes: Update as a compare-and-swap on resourceVersion (ABORTED
when stale, like the apiserver), UpdateStatus, and List with real label and field
selectors. Used by the tests of scale, rollout, describe, cordon, drain and apply --wait.

Builders for the objects those verbs read (a Deployment with its ReplicaSets and Pods,
a Node) live here too, shaped as the controllers write them (conventions: names
``<deploy>-<hash>``, label pod-template-hash, revision annotations, controller refs).
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message
from kubectl_testlib import FakeAPI, FakeRpcError, meta, not_found, timestamp

from apimachinery.kinds import info_of, kind_info, unwrap, wrap
from apimachinery.selectors import FieldSelector, LabelSelector
from protos import api_pb2, apps_pb2, core_pb2, meta_pb2

REVISION = "deployment.kubernetes.io/revision"


def conflict(kind: str, name: str) -> FakeRpcError:
    return FakeRpcError(grpc.StatusCode.ABORTED,
                        f'Operation cannot be fulfilled on {kind_info(kind).plural} "{name}": the object has been '
                        "modified; please apply your changes to the latest version and try again")


class ClusterFake(FakeAPI):
    def __init__(self) -> None:
        super().__init__()
        self.conflicts = 0  # the next N Updates fail with ABORTED, as if someone wrote first

    def List(self, request: api_pb2.ListRequest, timeout: float | None = None) -> api_pb2.ListResponse:
        self._record("List", request)
        labels = LabelSelector.parse(request.label_selector)
        fields = FieldSelector.parse(request.field_selector, request.kind)
        items = [wrap(obj) for (kind, namespace, _), obj in sorted(self.objects.items())
                 if kind == request.kind and (not request.namespace or namespace == request.namespace)
                 and labels.matches(obj.metadata.labels) and fields.matches(obj)]
        return api_pb2.ListResponse(items=items, resource_version=str(self.resource_version))

    def Create(self, request: api_pb2.CreateRequest, timeout: float | None = None) -> api_pb2.Object:
        self._record("Create", request)
        obj = unwrap(request.object)
        kind, _, name = key = self._key(obj)
        if key in self.objects:
            raise FakeRpcError(grpc.StatusCode.ALREADY_EXISTS, f'{kind_info(kind).plural} "{name}" already exists')
        if not request.dry_run:
            self.add(obj)
        return wrap(obj)

    def Update(self, request: api_pb2.UpdateRequest, timeout: float | None = None) -> api_pb2.Object:
        self._record("Update", request)
        new = unwrap(request.object)
        key = self._key(new)
        old = self.objects.get(key)
        if old is None:
            raise not_found(key[0], key[2])
        if request.dry_run:
            return wrap(new)
        if self.conflicts > 0 or (new.metadata.resource_version
                                  and new.metadata.resource_version != old.metadata.resource_version):
            self.conflicts = max(0, self.conflicts - 1)
            raise conflict(key[0], key[2])
        stored = type(new)()
        stored.CopyFrom(new)
        if hasattr(old, "status"):
            stored.status.CopyFrom(old.status)  # Update never changes status
        if hasattr(old, "spec") and stored.spec != old.spec:
            stored.metadata.generation = old.metadata.generation + 1
        return wrap(self.add(stored))

    def UpdateStatus(self, request: api_pb2.UpdateRequest, timeout: float | None = None) -> api_pb2.Object:
        self._record("UpdateStatus", request)
        new = unwrap(request.object)
        old = self.objects[self._key(new)]
        old.status.CopyFrom(new.status)  # type: ignore[attr-defined]
        return wrap(self.add(old))

    def get(self, kind: str, name: str, namespace: str = "default") -> Any:
        return self.objects[(kind, namespace if kind_info(kind).namespaced else "", name)]


# ------------------------------------------------------------------ builders


def template(image: str = "nginx:1.25", app: str = "web", **annotations: str) -> core_pb2.PodTemplateSpec:
    t = core_pb2.PodTemplateSpec(metadata=meta_pb2.ObjectMeta(labels={"app": app}, annotations=annotations))
    t.spec.containers.add(name="web", image=image).ports.add(container_port=80, protocol="TCP")
    t.spec.restart_policy = "Always"
    return t


def deployment(name: str = "web", replicas: int = 4, image: str = "nginx:1.25", revision: int = 1,
               generation: int = 1) -> apps_pb2.Deployment:
    d = apps_pb2.Deployment(metadata=meta(name, "default", age_seconds=600), spec=apps_pb2.DeploymentSpec(
        replicas=replicas, selector=meta_pb2.LabelSelector(match_labels={"app": name}),
        template=template(image, app=name)))
    d.metadata.uid = f"uid-{name}"
    d.metadata.generation = generation
    d.metadata.annotations[REVISION] = str(revision)
    d.spec.strategy.type = "RollingUpdate"
    d.spec.strategy.rolling_update.max_unavailable.str_val = "25%"
    d.spec.strategy.rolling_update.max_surge.str_val = "25%"
    return d


def settled(d: apps_pb2.Deployment) -> apps_pb2.Deployment:
    """The status the Deployment controller reports once a rollout is complete."""
    n = d.spec.replicas
    d.status.CopyFrom(apps_pb2.DeploymentStatus(
        observed_generation=d.metadata.generation, replicas=n, updated_replicas=n, ready_replicas=n,
        available_replicas=n))
    d.status.conditions.add(type="Available", status="True", reason="MinimumReplicasAvailable",
                            message="Deployment has minimum availability.")
    d.status.conditions.add(type="Progressing", status="True", reason="NewReplicaSetAvailable",
                            message=f'ReplicaSet "{d.metadata.name}-abc" has successfully progressed.')
    return d


def replica_set(owner: apps_pb2.Deployment, pod_hash: str, revision: int, replicas: int,
                image: str | None = None, age_seconds: float = 300, **annotations: str) -> apps_pb2.ReplicaSet:
    """A ReplicaSet of ``owner`` with the template of ``owner`` (or with ``image``)."""
    name = f"{owner.metadata.name}-{pod_hash}"
    rs = apps_pb2.ReplicaSet(metadata=meta(name, "default", age_seconds=age_seconds))
    rs.metadata.uid = f"uid-{name}"
    rs.metadata.labels.update({**owner.spec.template.metadata.labels, "pod-template-hash": pod_hash})
    rs.metadata.annotations.update({REVISION: str(revision), "deployment.kubernetes.io/desired-replicas": "4",
                                    "deployment.kubernetes.io/max-replicas": "5", **annotations})
    rs.metadata.owner_references.add(api_version="apps/v1", kind="Deployment", name=owner.metadata.name,
                                     uid=owner.metadata.uid, controller=True, block_owner_deletion=True)
    rs.spec.replicas = replicas
    rs.spec.selector.match_labels.update({**owner.spec.selector.match_labels, "pod-template-hash": pod_hash})
    rs.spec.template.CopyFrom(owner.spec.template)
    if image is not None:
        rs.spec.template.spec.containers[0].image = image
    rs.spec.template.metadata.labels["pod-template-hash"] = pod_hash
    rs.status.replicas = replicas
    rs.status.ready_replicas = replicas
    rs.status.available_replicas = replicas
    return rs


def pod_of(rs: apps_pb2.ReplicaSet | None, name: str, node: str = "n1", phase: str = "Running",
           namespace: str = "default") -> core_pb2.Pod:
    p = core_pb2.Pod(metadata=meta(name, namespace, age_seconds=120))
    p.metadata.uid = f"uid-{name}"
    if rs is not None:
        p.metadata.labels.update(rs.spec.template.metadata.labels)
        p.metadata.owner_references.add(api_version="apps/v1", kind="ReplicaSet", name=rs.metadata.name,
                                        uid=rs.metadata.uid, controller=True, block_owner_deletion=True)
        p.spec.CopyFrom(rs.spec.template.spec)
    else:
        p.spec.containers.add(name="c", image="busybox")
    p.spec.node_name = node
    p.status.phase = phase
    return p


def node(name: str = "n1", unschedulable: bool = False) -> core_pb2.Node:
    n = core_pb2.Node(metadata=meta(name, age_seconds=3600))
    n.metadata.uid = f"uid-{name}"
    n.metadata.labels.update({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"})
    n.spec.unschedulable = unschedulable
    n.status.capacity.update({"cpu": "4", "memory": "8Gi", "pods": "110"})
    n.status.allocatable.update({"cpu": "4", "memory": "8Gi", "pods": "110"})
    n.status.conditions.add(type="Ready", status="True", reason="KubeletReady",
                            message="kubelet is posting ready status", last_heartbeat_time=timestamp(5),
                            last_transition_time=timestamp(3600))
    n.status.addresses.add(type="InternalIP", address="10.88.0.1")
    n.status.addresses.add(type="Hostname", address=name)
    info = n.status.node_info
    info.machine_id, info.system_uuid, info.boot_id = "m-1", "s-1", "b-1"
    info.kernel_version, info.os_image = "6.8.0", "Debian GNU/Linux 12 (bookworm)"
    info.operating_system, info.architecture = "linux", "amd64"
    info.container_runtime_version, info.kubelet_version = "podman://5.4.0", "v0.1.0"
    return n


def copy(obj: Message) -> Any:
    new = type(obj)()
    new.CopyFrom(obj)
    return new


def kind_of(obj: Message) -> str:
    return info_of(obj).kind
