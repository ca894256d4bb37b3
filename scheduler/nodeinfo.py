"""What the plugins look at: a Pod and a Node, each parsed once into plain Python.

Plugins run for every (Pod, Node) pair of every scheduling cycle, so nothing in
that inner loop may parse a quantity or walk a protobuf: PodInfo is built once
per Pod per cycle, NodeInfo once per Node change, and both carry ints, tuples
and dicts. NodeInfo also keeps the running sums of the Pods the cache placed on
it (assigned by the apiserver or assumed by us), which is what resource fit,
spreading and least-allocated scoring read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from apimachinery.objects import controller_ref
from apimachinery.quantity import QuantityError, cpu_millis, to_bytes
from apimachinery.taints import Taint, Toleration, taint_of
from protos import core_pb2

# Kubernetes' non-zero defaults (schedutil.DefaultMilliCPURequest/DefaultMemoryRequest):
# a Pod without requests still "uses" something when nodes are *scored*, so that
# least-allocated scoring spreads request-less Pods too. Filters use the real requests.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


def _cpu(text: str) -> int:
    try:
        return cpu_millis(text)
    except QuantityError:
        return 0


def _bytes(text: str) -> int:
    try:
        return to_bytes(text)
    except QuantityError:
        return 0


def _count(text: str) -> int:
    try:
        return int(to_bytes(text))
    except QuantityError:
        return 0


def controller_uid(pod: core_pb2.Pod) -> str:
    """The uid of the Pod's managing controller (its ReplicaSet), or "" if it has none."""
    ref = controller_ref(pod)
    return ref.uid if ref is not None else ""


def is_counted(pod: core_pb2.Pod) -> bool:
    """Whether a bound Pod still holds its node's resources for scheduling purposes.

    A Pod being deleted or finished is on its way out; counting it would keep its
    replacement (created at once by the ReplicaSet controller) from the room it frees."""
    return (not pod.metadata.HasField("deletion_timestamp")
            and pod.status.phase not in ("Succeeded", "Failed"))


@dataclass(frozen=True, slots=True)
class PodInfo:
    pod: core_pb2.Pod
    key: str  # "namespace/name"
    uid: str
    cpu: int  # requested millicores (sum over containers)
    memory: int  # requested bytes
    nonzero_cpu: int  # for scoring: cpu, or Kubernetes' default when it is 0
    nonzero_memory: int
    owner_uid: str  # the controller ownerReference's uid, "" if none
    tolerations: tuple[Toleration, ...]
    node_selector: Mapping[str, str]

    @classmethod
    def of(cls, pod: core_pb2.Pod) -> PodInfo:
        cpu = memory = 0
        for container in pod.spec.containers:
            requests, limits = container.resources.requests, container.resources.limits
            # The apiserver in Kubernetes defaults a missing request to the limit; do the same here.
            cpu_text = requests.get("cpu") or limits.get("cpu")
            memory_text = requests.get("memory") or limits.get("memory")
            if cpu_text:
                cpu += _cpu(cpu_text)
            if memory_text:
                memory += _bytes(memory_text)
        return cls(
            pod=pod, key=f"{pod.metadata.namespace}/{pod.metadata.name}", uid=pod.metadata.uid,
            cpu=cpu, memory=memory,
            nonzero_cpu=cpu or DEFAULT_MILLI_CPU_REQUEST, nonzero_memory=memory or DEFAULT_MEMORY_REQUEST,
            owner_uid=controller_uid(pod),
            tolerations=tuple((t.key, t.operator or "Equal", t.value, t.effect) for t in pod.spec.tolerations),
            node_selector=dict(pod.spec.node_selector))


@dataclass(slots=True)
class NodeInfo:
    """One node and what the cache placed on it. `node` is None for a "ghost": Pods
    the informer reports bound to a node we have not seen (yet, or any more)."""

    name: str
    node: core_pb2.Node | None = None
    ready: bool = False
    unschedulable: bool = False
    taints: tuple[Taint, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    allocatable_cpu: int = 0
    allocatable_memory: int = 0
    allocatable_pods: int = 0
    requested_cpu: int = 0
    requested_memory: int = 0
    nonzero_cpu: int = 0
    nonzero_memory: int = 0
    pods: dict[str, PodInfo] = field(default_factory=dict)  # uid -> PodInfo
    owner_counts: dict[str, int] = field(default_factory=dict)  # controller uid -> Pods here
    # Score plugins' per-node results for a kind of Pod, valid until this node changes
    # (a Pod added or removed, the Node updated): cleared then.
    score_cache: dict[tuple, float] = field(default_factory=dict)

    def set_node(self, node: core_pb2.Node | None) -> None:
        self.node = node
        self.score_cache.clear()
        if node is None:
            self.ready = False
            return
        self.ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
        self.unschedulable = node.spec.unschedulable
        self.taints = tuple(map(taint_of, node.spec.taints))
        self.labels = dict(node.metadata.labels)
        # Allocatable is what Pods may use; a Node that reports only capacity offers all of it.
        resources = node.status.allocatable or node.status.capacity
        self.allocatable_cpu = _cpu(resources.get("cpu", "0"))
        self.allocatable_memory = _bytes(resources.get("memory", "0"))
        self.allocatable_pods = _count(resources.get("pods", "0"))

    def scheduling_signature(self) -> tuple:
        """What a Node update must change to possibly make a waiting Pod fit (heartbeats don't)."""
        return (self.node is not None, self.ready, self.unschedulable, self.taints, tuple(sorted(self.labels.items())),
                self.allocatable_cpu, self.allocatable_memory, self.allocatable_pods)

    def add_pod(self, pod: PodInfo) -> None:
        self.pods[pod.uid] = pod
        self.score_cache.clear()
        self.requested_cpu += pod.cpu
        self.requested_memory += pod.memory
        self.nonzero_cpu += pod.nonzero_cpu
        self.nonzero_memory += pod.nonzero_memory
        if pod.owner_uid:
            self.owner_counts[pod.owner_uid] = self.owner_counts.get(pod.owner_uid, 0) + 1

    def remove_pod(self, uid: str) -> PodInfo | None:
        pod = self.pods.pop(uid, None)
        if pod is None:
            return None
        self.score_cache.clear()
        self.requested_cpu -= pod.cpu
        self.requested_memory -= pod.memory
        self.nonzero_cpu -= pod.nonzero_cpu
        self.nonzero_memory -= pod.nonzero_memory
        if pod.owner_uid:
            left = self.owner_counts.get(pod.owner_uid, 0) - 1
            if left > 0:
                self.owner_counts[pod.owner_uid] = left
            else:
                self.owner_counts.pop(pod.owner_uid, None)
        return pod

    @property
    def pod_count(self) -> int:
        return len(self.pods)
