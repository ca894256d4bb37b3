"""describe node: conditions, addresses, capacity, its Lease, the non-terminated Pods and
the resources they request."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Mapping, Sequence

import grpc

from apimachinery.kinds import kind_info
from apimachinery.tables.cells import age, node_roles
from client.api import is_not_found
from kubectl.context import Context
from kubectl.describe_text import PrefixWriter, rfc1123z
from kubectl.verbs.describe.common import (
    LEVEL_0,
    LEVEL_1,
    annotations_multiline,
    describe_events,
    go_bool,
    labels_multiline,
    taints_multiline,
)
from kubectl.verbs.describe.pods import amount
from kubectl.verbs.updating import get_object
from kubectl.watching import Query, list_objects
from protos import coordination_pb2, core_pb2

NODE_LEASE_NAMESPACE = "kube-node-lease"


# ------------------------------------------------------------------- nodes


def _millis_text(millis: int) -> str:
    """A cpu amount as Kubernetes canonicalises it: ``0``, ``250m``, ``2``."""
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _bytes_text(amount: int) -> str:
    """A memory amount: ``0``, ``64Mi``, ``100M``, ``1500``."""
    if amount == 0:
        return "0"
    for suffix, size in (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if amount % size == 0:
            return f"{amount // size}{suffix}"
    for suffix, size in (("E", 10**18), ("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if amount % size == 0:
            return f"{amount // size}{suffix}"
    return str(amount)


def pod_requests_and_limits(pod: core_pb2.Pod) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    for container in pod.spec.containers:
        for name, text in container.resources.requests.items():
            requests[name] = requests.get(name, Decimal(0)) + amount(text)
        for name, text in container.resources.limits.items():
            limits[name] = limits.get(name, Decimal(0)) + amount(text)
    return requests, limits


def _percent(part: Decimal, whole: Decimal) -> int:
    return int(part / whole * 100) if whole else 0


def _resource_cells(amounts: Mapping[str, Decimal], allocatable: Mapping[str, Decimal]) -> tuple[str, str]:
    cpu = amounts.get("cpu", Decimal(0))
    memory = amounts.get("memory", Decimal(0))
    cpu_millis = int((cpu * 1000).to_integral_value(rounding="ROUND_CEILING"))
    memory_bytes = int(memory.to_integral_value(rounding="ROUND_CEILING"))
    return (f"{_millis_text(cpu_millis)} ({_percent(cpu, allocatable.get('cpu', Decimal(0)))}%)",
            f"{_bytes_text(memory_bytes)} ({_percent(memory, allocatable.get('memory', Decimal(0)))}%)")


def describe_node_resources(pods: Sequence[core_pb2.Pod], node: core_pb2.Node, now: datetime.datetime,
                            w: PrefixWriter) -> None:
    """The Non-terminated Pods table and the Allocated resources summary."""
    source = node.status.allocatable or node.status.capacity
    allocatable = {name: amount(text) for name, text in source.items()}
    w.write(LEVEL_0, f"Non-terminated Pods:\t({len(pods)} in total)\n")
    w.write(LEVEL_1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n")
    w.write(LEVEL_1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n")
    total_requests: dict[str, Decimal] = {}
    total_limits: dict[str, Decimal] = {}
    for pod in pods:
        requests, limits = pod_requests_and_limits(pod)
        for name, value in requests.items():
            total_requests[name] = total_requests.get(name, Decimal(0)) + value
        for name, value in limits.items():
            total_limits[name] = total_limits.get(name, Decimal(0)) + value
        cpu_request, memory_request = _resource_cells(requests, allocatable)
        cpu_limit, memory_limit = _resource_cells(limits, allocatable)
        w.write(LEVEL_1, f"{pod.metadata.namespace}\t{pod.metadata.name}\t\t{cpu_request}\t{cpu_limit}\t"
                         f"{memory_request}\t{memory_limit}\t{age(pod.metadata.creation_timestamp, now)}\n")
    w.write(LEVEL_0, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n")
    w.write(LEVEL_1, "Resource\tRequests\tLimits\n")
    w.write(LEVEL_1, "--------\t--------\t------\n")
    cpu_requests, memory_requests = _resource_cells(total_requests, allocatable)
    cpu_limits, memory_limits = _resource_cells(total_limits, allocatable)
    w.write(LEVEL_1, f"cpu\t{cpu_requests}\t{cpu_limits}\n")
    w.write(LEVEL_1, f"memory\t{memory_requests}\t{memory_limits}\n")


def _node_lease(ctx: Context, node: core_pb2.Node) -> coordination_pb2.Lease | None:
    try:
        lease = get_object(ctx.api, kind_info("Lease"), NODE_LEASE_NAMESPACE, node.metadata.name)
    except grpc.RpcError as err:
        if is_not_found(err):
            return None
        raise
    return lease if isinstance(lease, coordination_pb2.Lease) else None


def _stamp_or_unset(lease: coordination_pb2.Lease | None, field: str) -> str:
    if lease is None or not lease.spec.HasField(field):
        return "<unset>"
    return rfc1123z(getattr(lease.spec, field))


def describe_node(ctx: Context, node: core_pb2.Node, events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    meta, spec, status = node.metadata, node.spec, node.status
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Roles:\t{node_roles(node)}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    w.write(LEVEL_0, f"CreationTimestamp:\t{rfc1123z(meta.creation_timestamp)}\n")
    taints_multiline(w, "Taints", spec.taints)
    w.write(LEVEL_0, f"Unschedulable:\t{go_bool(spec.unschedulable)}\n")
    lease = _node_lease(ctx, node)
    w.write(LEVEL_0, "Lease:\n")
    w.write(LEVEL_1, f"HolderIdentity:\t{lease.spec.holder_identity if lease and lease.spec.holder_identity else '<unset>'}\n")
    w.write(LEVEL_1, f"AcquireTime:\t{_stamp_or_unset(lease, 'acquire_time')}\n")
    w.write(LEVEL_1, f"RenewTime:\t{_stamp_or_unset(lease, 'renew_time')}\n")
    if status.conditions:
        w.write(LEVEL_0, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n")
        w.write(LEVEL_1, "----\t------\t-----------------\t------------------\t------\t-------\n")
        for c in status.conditions:
            w.write(LEVEL_1, f"{c.type} \t{c.status} \t{rfc1123z(c.last_heartbeat_time)} \t"
                             f"{rfc1123z(c.last_transition_time)} \t{c.reason} \t{c.message}\n")
    w.write(LEVEL_0, "Addresses:\n")
    for address in status.addresses:
        w.write(LEVEL_1, f"{address.type}:\t{address.address}\n")
    for title, amounts in (("Capacity", status.capacity), ("Allocatable", status.allocatable)):
        if amounts:
            w.write(LEVEL_0, f"{title}:\n")
            for name in sorted(amounts):
                w.write(LEVEL_0, f"  {name}:\t{amounts[name]}\n")
    info = status.node_info
    w.write(LEVEL_0, "System Info:\n")
    for title, value in (("Machine ID", info.machine_id), ("System UUID", info.system_uuid),
                         ("Boot ID", info.boot_id), ("Kernel Version", info.kernel_version),
                         ("OS Image", info.os_image), ("Operating System", info.operating_system),
                         ("Architecture", info.architecture),
                         ("Container Runtime Version", info.container_runtime_version),
                         ("Kubelet Version", info.kubelet_version)):
        w.write(LEVEL_0, f"  {title}:\t{value}\n")
    if spec.pod_cidr:
        w.write(LEVEL_0, f"PodCIDR:\t{spec.pod_cidr}\n")
    if spec.provider_id:
        w.write(LEVEL_0, f"ProviderID:\t{spec.provider_id}\n")
    describe_node_resources(_non_terminated_pods(ctx, node), node, ctx.now(), w)
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()


def _non_terminated_pods(ctx: Context, node: core_pb2.Node) -> list[core_pb2.Pod]:
    name = node.metadata.name
    selector = f"spec.nodeName={name},status.phase!=Succeeded,status.phase!=Failed"
    pods, _ = list_objects(ctx.api, Query(kind_info("Pod"), "", field_selector=selector))
    return [pod for pod in pods
            if pod.spec.node_name == name and pod.status.phase not in ("Succeeded", "Failed")]

