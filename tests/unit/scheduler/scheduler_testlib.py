"""Nodes and Pods for the scheduler tests, shaped as the kubelet and the ReplicaSet
controller write them."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from google.protobuf.timestamp_pb2 import Timestamp

from protos import core_pb2, meta_pb2
from scheduler.cache import SchedulerCache

UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
_uids = itertools.count(1)


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110", ready: bool = True,
         unschedulable: bool = False, taints: Iterable[tuple[str, str, str]] = (),
         labels: dict[str, str] | None = None) -> core_pb2.Node:
    n = core_pb2.Node(metadata=meta_pb2.ObjectMeta(
        name=name, labels={"kubernetes.io/hostname": name, **(labels or {})}))
    n.spec.unschedulable = unschedulable
    for key, value, effect in taints:
        n.spec.taints.add(key=key, value=value, effect=effect)
    resources = {"cpu": cpu, "memory": memory, "pods": pods}
    n.status.capacity.update(resources)
    n.status.allocatable.update(resources)
    n.status.conditions.add(type="Ready", status="True" if ready else "Unknown",
                            reason="KubeletReady" if ready else "NodeStatusUnknown")
    return n


def unreachable_node(name: str) -> core_pb2.Node:
    """What the node lifecycle controller makes of a node whose kubelet went silent."""
    return node(name, ready=False, taints=[(UNREACHABLE, "", "NoExecute"), (UNREACHABLE, "", "NoSchedule")])


def cordoned_node(name: str) -> core_pb2.Node:
    return node(name, unschedulable=True, taints=[(UNSCHEDULABLE_TAINT, "", "NoSchedule")])


def pod(name: str, owner_uid: str = "", cpu: str = "", memory: str = "", node_name: str = "",
        tolerations: Iterable[tuple[str, str, str, str]] = (), node_selector: dict[str, str] | None = None,
        uid: str | None = None, created: int = 0, namespace: str = "default") -> core_pb2.Pod:
    """A Pod as the ReplicaSet controller makes them (uid set: as if created by the apiserver)."""
    p = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace=namespace,
                                                  uid=uid or f"uid-{name}-{next(_uids)}",
                                                  creation_timestamp=Timestamp(seconds=created)))
    if owner_uid:
        p.metadata.owner_references.add(api_version="apps/v1", kind="ReplicaSet", name="web-abc",
                                        uid=owner_uid, controller=True, block_owner_deletion=True)
    p.spec.scheduler_name = "default-scheduler"
    p.spec.node_name = node_name
    container = p.spec.containers.add(name="main", image="nginx:1.27")
    if cpu:
        container.resources.requests["cpu"] = cpu
    if memory:
        container.resources.requests["memory"] = memory
    for key, operator, value, effect in tolerations:
        p.spec.tolerations.add(key=key, operator=operator, value=value, effect=effect)
    p.spec.node_selector.update(node_selector or {})
    p.status.phase = "Pending"
    return p


def cache_with(*nodes: core_pb2.Node, pods: Iterable[core_pb2.Pod] = ()) -> SchedulerCache:
    cache = SchedulerCache()
    for n in nodes:
        cache.set_node(n)
    for p in pods:
        cache.set_pod(p)
    return cache
