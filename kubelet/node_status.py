"""Node registration and heartbeats.

On start the kubelet creates its Node (or takes over the existing one, keeping
what users set in its spec, such as cordoning) with capacity, addresses, system
info and a Ready condition. Then it renews its Lease in kube-node-lease every
few seconds: the node lifecycle controller declares a node NotReady when that
Lease goes stale. The Node's status is re-sent when it changes and, as a slower
heartbeat, every node_status_interval."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from google.protobuf.timestamp_pb2 import Timestamp

from client.api import AsyncAPI, describe, is_already_exists, is_conflict, is_not_found
from client.informer import Informer
from kubelet.config import KubeletConfig
from kubelet.runtime import RuntimeInfo
from protos import coordination_pb2, core_pb2, meta_pb2

log = structlog.get_logger("node-status")
LEASE_NAMESPACE = "kube-node-lease"


def now_timestamp(now: float) -> Timestamp:
    return Timestamp(seconds=int(now))


def network_not_ready(node_name: str) -> str:
    """The Ready condition's message while the node has no podCIDR, in the words of Kubernetes'
    kubelet when its network plugin is not ready."""
    return ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
            f"message:Network plugin returns error: no podCIDR assigned to node {node_name} yet")


def node_status(config: KubeletConfig, info: RuntimeInfo, port: int, now: float,
                network_message: str = "") -> core_pb2.NodeStatus:
    """The Node's status; ``network_message`` (not "") keeps it NotReady, saying why."""
    capacity = {"cpu": str(info.cpus), "memory": f"{info.memory_bytes // 1024}Ki", "pods": str(config.max_pods)}
    status = core_pb2.NodeStatus(capacity=capacity, allocatable=capacity)
    status.addresses.add(type="InternalIP", address=config.node_ip)
    status.addresses.add(type="Hostname", address=config.hostname_override or config.node_name)
    status.node_info.CopyFrom(core_pb2.NodeSystemInfo(
        kernel_version=info.kernel, os_image=info.os, operating_system="linux",
        architecture=info.architecture, container_runtime_version=f"{info.name}://{info.version}",
        kubelet_version=config.kubelet_version))
    status.daemon_endpoints.kubelet_endpoint.port = port
    stamp = now_timestamp(now)
    for type_, value, reason, message in (
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "False", "KubeletNotReady", network_message) if network_message else
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status")):
        status.conditions.add(type=type_, status=value, reason=reason, message=message,
                              last_heartbeat_time=stamp, last_transition_time=stamp)
    return status


def _same_ignoring_heartbeat(a: core_pb2.NodeStatus, b: core_pb2.NodeStatus) -> bool:
    a2, b2 = core_pb2.NodeStatus(), core_pb2.NodeStatus()
    a2.CopyFrom(a)
    b2.CopyFrom(b)
    for status in (a2, b2):
        for condition in status.conditions:
            condition.ClearField("last_heartbeat_time")
            condition.ClearField("last_transition_time")
    return a2 == b2


@dataclass
class NodeStatusReporter:
    api: AsyncAPI
    config: KubeletConfig
    info: RuntimeInfo
    port: int
    # Not "": the Pod network is not ready (network_not_ready's words); the Node is NotReady.
    network_message: str = ""
    # Called with the Node's spec.podCIDR whenever the watch shows one.
    on_pod_cidr: Callable[[str], None] | None = None
    # Set on the Node at registration (the local-path storage root).
    annotations: dict[str, str] = field(default_factory=dict)
    _resend: asyncio.Event = field(default_factory=asyncio.Event)

    def network_ready(self) -> None:
        """The Pod network exists: the Node turns Ready with the next status, sent at once."""
        self.network_message = ""
        self._resend.set()

    def _labels(self) -> dict[str, str]:
        labels = {"kubernetes.io/hostname": self.config.node_name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": self.info.architecture}
        labels.update(self.config.node_labels or {})
        return labels

    async def register(self) -> core_pb2.Node:
        """Create the Node, or bring an existing one's labels and status up to date."""
        now = time.time()
        status = node_status(self.config, self.info, self.port, now, self.network_message)
        node = core_pb2.Node(metadata=meta_pb2.ObjectMeta(name=self.config.node_name, labels=self._labels(),
                                                          annotations=self.annotations),
                             status=status)
        while True:
            try:
                created = await self.api.create(node)
                log.info("node registered", node=self.config.node_name)
                return created  # type: ignore[return-value]
            except Exception as err:
                if not is_already_exists(err):
                    raise
            existing: core_pb2.Node = await self.api.get("Node", self.config.node_name)  # type: ignore[assignment]
            existing.metadata.labels.update(self._labels())
            existing.metadata.annotations.update(self.annotations)
            try:
                existing = await self.api.update(existing)  # type: ignore[assignment]
                await self._send_status(existing, status)
                log.info("node re-registered", node=self.config.node_name)
                return existing
            except Exception as err:
                if not (is_conflict(err) or is_not_found(err)):
                    raise

    async def _send_status(self, node: core_pb2.Node, status: core_pb2.NodeStatus) -> None:
        update = core_pb2.Node()
        update.CopyFrom(node)
        update.metadata.resource_version = ""
        update.status.CopyFrom(status)
        await self.api.update_status(update)

    async def run_status(self) -> None:
        """Re-send the Node's status as a slow heartbeat, and at once when the apiserver
        shows it not Ready while this kubelet runs (the node lifecycle controller marks a
        node Unknown when its Lease went stale, e.g. across a network blip). The same watch
        hands the Node's podCIDR to ``on_pod_cidr``."""
        own_node = Informer(self.api, "Node", field_selector=f"metadata.name={self.config.node_name}")
        marked_not_ready = self._resend

        def on_node(event: str, node, old) -> None:
            if event != "DELETED" and node.spec.pod_cidr and self.on_pod_cidr is not None:
                self.on_pod_cidr(node.spec.pod_cidr)
            ready = next((c for c in node.status.conditions if c.type == "Ready"), None)
            if event != "DELETED" and (ready is None or ready.status != "True") and not self.network_message:
                marked_not_ready.set()  # (while our network is not ready, NotReady is our own word)
            elif event == "DELETED":
                marked_not_ready.set()
        own_node.add_handler(on_node)
        watching = asyncio.create_task(own_node.run())
        try:
            await self._status_loop(marked_not_ready)
        finally:
            watching.cancel()

    async def _status_loop(self, marked_not_ready: asyncio.Event) -> None:
        while True:
            try:
                await asyncio.wait_for(marked_not_ready.wait(), self.config.node_status_interval)
            except asyncio.TimeoutError:
                pass
            marked_not_ready.clear()
            try:
                node: core_pb2.Node = await self.api.get("Node", self.config.node_name)  # type: ignore[assignment]
                status = node_status(self.config, self.info, self.port, time.time(), self.network_message)
                for condition in status.conditions:
                    before = next((c for c in node.status.conditions if c.type == condition.type), None)
                    if before is not None and before.status == condition.status:
                        condition.last_transition_time.CopyFrom(before.last_transition_time)
                await self._send_status(node, status)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                if is_not_found(err):
                    await self.register()
                else:
                    log.warning("node status update failed", error=describe(err))


@dataclass
class NodeLease:
    """The node's heartbeat: its Lease in kube-node-lease, renewed from the kubelet's first
    moments on (before the runtime answers or the Node is registered), so a restarted kubelet's
    node never looks silent to the node lifecycle controller."""

    api: AsyncAPI
    config: KubeletConfig

    async def run(self) -> None:
        """Renew the node's Lease every lease_interval seconds: the heartbeat."""
        lease: coordination_pb2.Lease | None = None
        while True:
            try:
                lease = await self._renew(lease)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("lease renewal failed", error=describe(err))
                lease = None
            await asyncio.sleep(self.config.lease_interval)

    async def _renew(self, lease: coordination_pb2.Lease | None) -> coordination_pb2.Lease:
        now = time.time()
        renew = Timestamp(seconds=int(now), nanos=int((now % 1) * 1e9))
        if lease is None:
            try:
                lease = await self.api.get("Lease", self.config.node_name, LEASE_NAMESPACE)  # type: ignore[assignment]
            except Exception as err:
                if not is_not_found(err):
                    raise
                fresh = coordination_pb2.Lease(
                    metadata=meta_pb2.ObjectMeta(name=self.config.node_name, namespace=LEASE_NAMESPACE),
                    spec=coordination_pb2.LeaseSpec(holder_identity=self.config.node_name,
                                                    lease_duration_seconds=self.config.lease_duration_seconds,
                                                    renew_time=renew, acquire_time=renew))
                return await self.api.create(fresh)  # type: ignore[return-value]
        lease.spec.renew_time.CopyFrom(renew)
        lease.spec.holder_identity = self.config.node_name
        return await self.api.update(lease)  # type: ignore[return-value]
