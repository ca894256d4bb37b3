"""The node IPAM controller: every Node gets its own range of Pod IPs (spec.podCIDR).

Kubernetes' nodeipam range allocator (--cidr-allocator-type RangeAllocator): the
cluster CIDR (--cluster-cidr, 10.88.0.0/16) is cut into blocks of
--node-cidr-mask-size (/24), and each Node without spec.podCIDR gets the next free
block, written as podCIDR and podCIDRs by an Update (retried on a conflict). The
kubelet then gives its Pods addresses from it, and pykube-proxy routes each other
node's block to that node.

The allocator keeps no state of its own in the API: the Nodes are the record. On
start the informer lists every Node before a worker runs, and each podCIDR seen is
marked used, so a restarted controller never hands out a block twice. A deleted
Node's block is free again. When the range is exhausted, the Node gets one event
CIDRNotAvailable and waits (no retry loop) until a deleted Node frees a block.

CIDRSet is the pure part (Kubernetes' cidrset, first free block in a round-robin
walk from the last one handed out, as Kubernetes does: a block just freed is not
reused at once, while other nodes may still route it)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import structlog
from google.protobuf.message import Message

from apimachinery.network import CLUSTER_CIDR, NODE_CIDR_MASK_SIZE
from client.api import AsyncAPI, describe, is_conflict, is_not_found
from client.events import NORMAL, EventRecorder
from client.informer import SharedInformers
from controllers.base import Controller
from protos import core_pb2

log = structlog.get_logger("node-ipam-controller")

# Kubernetes' clusterSubnetMaxDiff: at most 2^16 blocks per cluster CIDR.
MAX_SUBNET_BITS = 16
CIDR_UPDATE_RETRIES = 3  # Kubernetes' cidrUpdateRetries
CIDR_NOT_AVAILABLE = "CIDRNotAvailable"


class CIDRRangeFull(Exception):
    """CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range."""

    def __init__(self) -> None:
        super().__init__("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range")


@dataclass
class NodeIPAMConfig:
    allocate_node_cidrs: bool = True  # --allocate-node-cidrs
    cluster_cidr: str = CLUSTER_CIDR  # --cluster-cidr
    node_cidr_mask_size: int = NODE_CIDR_MASK_SIZE  # --node-cidr-mask-size


def check_config(config: NodeIPAMConfig) -> str | None:
    """Why the configuration cannot work (Kubernetes' messages), or None."""
    try:
        network = ipaddress.ip_network(config.cluster_cidr)
    except ValueError:
        return f'invalid CIDR address: {config.cluster_cidr}'
    if network.version != 4:
        return f"--cluster-cidr {config.cluster_cidr}: only IPv4 is supported"
    if (config.node_cidr_mask_size < network.prefixlen or config.node_cidr_mask_size > 32
            or config.node_cidr_mask_size - network.prefixlen > MAX_SUBNET_BITS):
        return "New CIDR set failed; the node CIDR size is too big"
    return None


@dataclass
class CIDRSet:
    """The blocks of one cluster CIDR, each used or free."""

    cluster_cidr: str
    mask_size: int
    used: set[int] = field(default_factory=set)  # block indexes
    next_candidate: int = 0

    def __post_init__(self) -> None:
        self.network = ipaddress.ip_network(self.cluster_cidr)
        self.blocks = 1 << (self.mask_size - self.network.prefixlen)
        self.step = 1 << (32 - self.mask_size)

    def cidr(self, index: int) -> str:
        return f"{self.network.network_address + index * self.step}/{self.mask_size}"

    def index_of(self, cidr: str) -> int:
        """The block a CIDR is; ValueError if it is not one of this set's blocks."""
        block = ipaddress.ip_network(cidr)
        if block.prefixlen != self.mask_size or not block.subnet_of(self.network):  # type: ignore[arg-type]
            raise ValueError(f"cidr {cidr} is out the range of cluster cidr {self.cluster_cidr}")
        return (int(block.network_address) - int(self.network.network_address)) // self.step

    def occupy(self, cidr: str) -> None:
        self.used.add(self.index_of(cidr))

    def release(self, cidr: str) -> None:
        self.used.discard(self.index_of(cidr))

    def allocate_next(self) -> str:
        for offset in range(self.blocks):
            index = (self.next_candidate + offset) % self.blocks
            if index not in self.used:
                self.used.add(index)
                self.next_candidate = (index + 1) % self.blocks
                return self.cidr(index)
        raise CIDRRangeFull()

    @property
    def free(self) -> int:
        return self.blocks - len(self.used)


def node_cidrs(node: core_pb2.Node) -> list[str]:
    """The blocks a Node holds (podCIDRs, or the older single podCIDR)."""
    return list(node.spec.pod_cidrs) or ([node.spec.pod_cidr] if node.spec.pod_cidr else [])


def with_pod_cidr(node: core_pb2.Node, cidr: str) -> core_pb2.Node:
    new = core_pb2.Node()
    new.CopyFrom(node)
    new.spec.pod_cidr = cidr
    del new.spec.pod_cidrs[:]
    new.spec.pod_cidrs.append(cidr)
    return new


class NodeIPAMController(Controller):
    name = "node-ipam-controller"

    def __init__(self, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder,
                 config: NodeIPAMConfig | None = None) -> None:
        super().__init__(api, informers, recorder)
        self.config = config or NodeIPAMConfig()
        problem = check_config(self.config)
        if problem:
            raise ValueError(problem)
        self.cidrs = CIDRSet(self.config.cluster_cidr, self.config.node_cidr_mask_size)
        self.pending: dict[str, str] = {}  # node -> block allocated, not yet seen on the Node
        self.waiting: set[str] = set()  # nodes told CIDRNotAvailable, waiting for a free block
        self.nodes = informers.get("Node")
        self.nodes.add_handler(self._on_node)
        for node in self.nodes.items():
            self._on_node("ADDED", node, None)

    def _occupy(self, node: core_pb2.Node) -> None:
        for cidr in node_cidrs(node):
            try:
                self.cidrs.occupy(cidr)
            except ValueError as err:  # a hand-written CIDR outside the range: not ours to track
                log.info("node CIDR outside the cluster CIDR, left alone", node=node.metadata.name, error=str(err))

    def _release(self, cidrs: list[str]) -> None:
        if not cidrs:
            return
        for cidr in cidrs:
            try:
                self.cidrs.release(cidr)
            except ValueError:
                continue
        if self.waiting:  # a block is free again: the nodes waiting for one try again
            for waiting in sorted(self.waiting):
                self.queue.add(waiting)
            self.waiting.clear()

    def _on_node(self, event: str, obj: Message, old: Message | None) -> None:
        node: core_pb2.Node = obj  # type: ignore[assignment]
        name = node.metadata.name
        if event == "DELETED":
            self.waiting.discard(name)
            pending = self.pending.pop(name, None)
            cidrs = node_cidrs(node)
            if pending and pending not in cidrs:
                cidrs.append(pending)
            self._release(cidrs)
            return
        if node.spec.pod_cidr:
            held = node_cidrs(old) if old is not None else []  # type: ignore[arg-type]
            if held != node_cidrs(node):  # new to this controller, or changed (status updates are not)
                self._release([c for c in held if c not in node_cidrs(node)])
                self._occupy(node)
            pending = self.pending.pop(name, None)
            if pending and pending != node.spec.pod_cidr:  # someone else set it meanwhile
                self._release([pending])
            return
        if name not in self.waiting:
            self.queue.add(name)

    async def reconcile(self, key: str) -> None:
        node: core_pb2.Node | None = self.nodes.get(key)  # type: ignore[assignment]
        if node is None or node.spec.pod_cidr:
            return
        cidr = self.pending.get(key)
        if cidr is None:
            try:
                cidr = self.cidrs.allocate_next()
            except CIDRRangeFull:
                if key not in self.waiting:
                    self.waiting.add(key)
                    log.warning("no CIDR left for node", node=key, cluster_cidr=self.config.cluster_cidr)
                    # Type Normal, as Kubernetes' RecordNodeStatusChange writes every node status event.
                    self.recorder.record(node, NORMAL, CIDR_NOT_AVAILABLE,
                                         f"Node {key} status is now: {CIDR_NOT_AVAILABLE}")
                return
            self.pending[key] = cidr
        await self._write(key, node, cidr)

    async def _write(self, key: str, node: core_pb2.Node, cidr: str) -> None:
        """Set the block on the Node; on a conflict read it again (up to CIDR_UPDATE_RETRIES)."""
        for attempt in range(CIDR_UPDATE_RETRIES):
            if node.spec.pod_cidr:  # set by someone else meanwhile: that one stands
                if node.spec.pod_cidr != cidr and self.pending.pop(key, None) == cidr:
                    self._release([cidr])
                return
            try:
                await self.api.update(with_pod_cidr(node, cidr))
                log.info("node CIDR allocated", node=key, pod_cidr=cidr)
                return
            except Exception as err:
                if is_not_found(err):
                    if self.pending.pop(key, None) == cidr:
                        self._release([cidr])
                    return
                if not is_conflict(err) or attempt == CIDR_UPDATE_RETRIES - 1:
                    log.warning("failed to set node CIDR", node=key, pod_cidr=cidr, error=describe(err))
                    raise  # retried with back-off; the block stays pending for this node
            node = await self.api.get("Node", key)  # type: ignore[assignment]
