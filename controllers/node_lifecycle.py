"""The node lifecycle controller: notice dead nodes, fence them, move their Pods.

Every monitor period it looks at each Node's heartbeats: the kubelet renews its Lease
in kube-node-lease every 2 s and re-posts the Node's status now and then. A heartbeat
counts when it *changes*, timed by this controller's own clock (as Kubernetes'
probeTimestamp), so a node whose clock is off is judged by the controller's time,
not its own. A node with no new heartbeat for the grace period (8 s by default):

* its conditions become Unknown (reason NodeStatusUnknown, "Kubelet stopped posting
  node status."), by UpdateStatus;
* it is tainted node.kubernetes.io/unreachable NoSchedule (the scheduler places
  nothing new there) and NoExecute (its Pods must leave), by Update; event NodeNotReady;
* its Pods that do not tolerate the NoExecute taint are deleted once the eviction
  timeout (0 s by default; a toleration's tolerationSeconds instead) has passed since
  the taint was added. A bound Pod's delete is graceful, so it shows Terminating; the
  ReplicaSet no longer counts it and creates a replacement at once;
* as its kubelet will never confirm those deletions, Pods Terminating on it for
  longer than terminating_pod_gc_delay are force-deleted (grace 0), which keeps
  `get pods` clean (Kubernetes' pod GC does this for out-of-service nodes).

When the Lease is fresh again and the kubelet reports Ready, the taints go. A node
whose kubelet reports Ready=False is tainted node.kubernetes.io/not-ready instead.
Pods bound to a Node that does not exist are force-deleted after a quarantine (40 s).

The decisions (node_decision, desired_taints, pods_to_evict, pods_to_force_delete)
are pure functions of the objects and a time, tested with an injected clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import structlog
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from apimachinery.taints import taint_of, tolerates, toleration_of
from client.api import AsyncAPI, describe, is_conflict, is_not_found
from client.events import NORMAL, WARNING, EventRecorder
from client.informer import SharedInformers, object_key
from controllers.base import Controller
from protos import core_pb2, meta_pb2

log = structlog.get_logger("node-controller")

LEASE_NAMESPACE = "kube-node-lease"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "NoExecute"
LIFECYCLE_TAINT_KEYS = (UNREACHABLE_TAINT, NOT_READY_TAINT)
# The conditions a silent kubelet no longer vouches for (Kubernetes' list).
NODE_CONDITION_TYPES = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
NEVER_REASON = "NodeStatusNeverUpdated"
NEVER_MESSAGE = "Kubelet never posted node status."


@dataclass
class NodeLifecycleConfig:
    monitor_period: float = 1.0  # --node-monitor-period
    grace_period: float = 8.0  # --node-monitor-grace-period
    pod_eviction_timeout: float = 0.0  # --pod-eviction-timeout
    terminating_pod_gc_delay: float = 10.0  # --terminating-pod-gc-delay
    # Pods bound to a Node that does not exist wait this long (Kubernetes' pod GC
    # quarantine), so a Node that is only slow to register is not mistaken for gone.
    orphaned_pod_gc_delay: float = 40.0


def _seconds(ts: Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def _timestamp(now: float) -> Timestamp:
    return Timestamp(seconds=int(now), nanos=int((now % 1) * 1e9))


def condition(node: core_pb2.Node, type_: str) -> meta_pb2.Condition | None:
    return next((c for c in node.status.conditions if c.type == type_), None)


# ------------------------------------------------------------------ heartbeats

def heartbeat_of(node: core_pb2.Node, lease: Message | None) -> tuple[float, float]:
    """What changes when a kubelet is alive: its Lease's renewTime and its Ready
    condition's lastHeartbeatTime (which this controller never changes)."""
    renew = _seconds(lease.spec.renew_time) if lease is not None else 0.0  # type: ignore[attr-defined]
    ready = condition(node, "Ready")
    return renew, (_seconds(ready.last_heartbeat_time) if ready is not None else 0.0)


@dataclass
class HeartbeatTracker:
    """When this controller last saw each node's heartbeat change (its own clock).

    A node seen for the first time counts as just heard from: after a controller
    restart every node gets the full grace period again, as in Kubernetes."""

    seen: dict[str, tuple[tuple[float, float], float]] = field(default_factory=dict)

    def observe(self, node: str, heartbeat: tuple[float, float], now: float) -> float:
        """Record what the caches show now; return when the node was last heard from."""
        previous = self.seen.get(node)
        if previous is None or previous[0] != heartbeat:
            self.seen[node] = (heartbeat, now)
            return now
        return previous[1]

    def forget(self, node: str) -> None:
        self.seen.pop(node, None)


# ------------------------------------------------------------------ decisions

@dataclass
class NodeDecision:
    stale: bool  # no heartbeat for longer than the grace period
    ready: str | None  # the Ready status after this decision: "True", "False", "Unknown" (None: not reported yet)
    set_unknown: bool  # the conditions must be written as Unknown
    newly_not_ready: bool  # Ready just left "True": record NodeNotReady


def node_decision(node: core_pb2.Node, last_heard: float, now: float, grace: float) -> NodeDecision:
    """Is the node silent for too long, and what is its Ready status then?"""
    ready = condition(node, "Ready")
    stale = now - last_heard > grace
    if not stale:
        return NodeDecision(False, ready.status if ready is not None else None, False, False)
    set_unknown = any((c := condition(node, t)) is None or c.status != "Unknown" for t in NODE_CONDITION_TYPES)
    was_ready = ready is not None and ready.status == "True"
    return NodeDecision(True, "Unknown", set_unknown, was_ready)


def unknown_status(node: core_pb2.Node, now: float) -> core_pb2.NodeStatus:
    """The node's status with its conditions set to Unknown (heartbeat times kept,
    transition time now), as Kubernetes' tryUpdateNodeHealth writes it."""
    status = core_pb2.NodeStatus()
    status.CopyFrom(node.status)
    stamp = _timestamp(now)
    for type_ in NODE_CONDITION_TYPES:
        existing = next((c for c in status.conditions if c.type == type_), None)
        if existing is None:
            status.conditions.add(type=type_, status="Unknown", reason=NEVER_REASON, message=NEVER_MESSAGE,
                                  last_transition_time=stamp, last_probe_time=stamp)
        elif existing.status != "Unknown":
            existing.status = "Unknown"
            existing.reason = UNKNOWN_REASON
            existing.message = UNKNOWN_MESSAGE
            existing.last_transition_time.CopyFrom(stamp)
            existing.last_probe_time.CopyFrom(stamp)
    return status


def desired_taints(taints: Iterable[core_pb2.Taint], ready: str | None, now: float) -> list[core_pb2.Taint] | None:
    """The node's taints with the lifecycle ones matching its Ready status, or None
    when nothing changes. Unknown → unreachable, False → not-ready, True → neither;
    user taints are kept; a lifecycle taint already there keeps its timeAdded."""
    current = list(taints)
    if ready is None:
        return None
    wanted_key = {"Unknown": UNREACHABLE_TAINT, "False": NOT_READY_TAINT}.get(ready)
    kept = [t for t in current if t.key not in LIFECYCLE_TAINT_KEYS or t.key == wanted_key]
    if wanted_key is not None:
        for effect in (NO_SCHEDULE, NO_EXECUTE):
            if not any(t.key == wanted_key and t.effect == effect for t in kept):
                kept.append(core_pb2.Taint(key=wanted_key, effect=effect, time_added=_timestamp(now)))
    return None if kept == current else kept


def toleration_for(pod: core_pb2.Pod, taint: core_pb2.Taint) -> core_pb2.Toleration | None:
    """The Pod's first toleration that tolerates the taint (Kubernetes' ToleratesTaint), if any."""
    matched = taint_of(taint)
    for toleration in pod.spec.tolerations:
        if tolerates(toleration_of(toleration), matched):
            return toleration
    return None


def eviction_time(pod: core_pb2.Pod, taints: Iterable[core_pb2.Taint], eviction_timeout: float) -> float | None:
    """When the node's NoExecute taints make the Pod leave (epoch seconds), or None.

    A toleration with tolerationSeconds delays eviction that long after the taint
    was added, one without keeps the Pod for ever; an untolerated lifecycle taint
    evicts after the eviction timeout (pykube's stand-in for the 300 s default
    toleration Kubernetes adds to every Pod), any other untolerated NoExecute at once."""
    deadlines = []
    for taint in taints:
        if taint.effect != NO_EXECUTE:
            continue
        added = _seconds(taint.time_added)
        toleration = toleration_for(pod, taint)
        if toleration is None:
            deadlines.append(added + (eviction_timeout if taint.key in LIFECYCLE_TAINT_KEYS else 0.0))
        elif toleration.HasField("toleration_seconds"):
            deadlines.append(added + max(toleration.toleration_seconds, 0))
    return min(deadlines) if deadlines else None


def pods_to_evict(node: core_pb2.Node, pods: Iterable[core_pb2.Pod], now: float,
                  eviction_timeout: float) -> list[core_pb2.Pod]:
    """Pods bound to the node, not yet going, whose eviction time has come."""
    out = []
    for pod in pods:
        if pod.spec.node_name != node.metadata.name or pod.metadata.HasField("deletion_timestamp"):
            continue
        when = eviction_time(pod, node.spec.taints, eviction_timeout)
        if when is not None and when <= now:
            out.append(pod)
    return out


def terminating_since(pod: core_pb2.Pod) -> float:
    """When the Pod's graceful deletion began: deletionTimestamp is that moment plus the grace."""
    return _seconds(pod.metadata.deletion_timestamp) - pod.metadata.deletion_grace_period_seconds


def pods_to_force_delete(pods: Iterable[core_pb2.Pod], now: float, delay: float) -> list[core_pb2.Pod]:
    """Pods Terminating for at least `delay` seconds (on a node that will never confirm)."""
    return [p for p in pods
            if p.metadata.HasField("deletion_timestamp") and terminating_since(p) + delay <= now]


def pods_to_mark_not_ready(pods: Iterable[core_pb2.Pod]) -> list[core_pb2.Pod]:
    """Pods still reporting Ready on a node whose kubelet is silent (MarkPodsNotReady)."""
    return [p for p in pods if not p.metadata.HasField("deletion_timestamp")
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)]


def not_ready_pod(pod: core_pb2.Pod, now: float) -> core_pb2.Pod:
    new = core_pb2.Pod()
    new.CopyFrom(pod)
    for c in new.status.conditions:
        if c.type == "Ready" and c.status == "True":
            c.status = "False"
            c.reason = "NodeNotReady"
            c.message = "the node's kubelet stopped posting status"
            c.last_transition_time.CopyFrom(_timestamp(now))
    return new


# ------------------------------------------------------------------ the controller

class NodeLifecycleController(Controller):
    name = "node-controller"

    def __init__(self, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder,
                 config: NodeLifecycleConfig | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(api, informers, recorder)
        self.config = config or NodeLifecycleConfig()
        self.clock = clock
        self.tracker = HeartbeatTracker()
        self.nodes = informers.get("Node")
        self.leases = informers.get("Lease")
        self.pods = informers.get("Pod")
        self.pods_by_node: dict[str, set[str]] = {}
        self._pod_node: dict[str, str] = {}
        self.missing_since: dict[str, float] = {}  # node name -> when its Pods' Node was first missing
        self.pods.add_handler(self._on_pod)
        self.nodes.add_handler(self._on_node)
        for pod in self.pods.items():
            self._on_pod("ADDED", pod, None)

    # -------------------------------------------------------------- handlers

    def _on_pod(self, event: str, obj: Message, old: Message | None) -> None:
        key = object_key(obj)
        node = obj.spec.node_name  # type: ignore[attr-defined]
        before = self._pod_node.get(key)
        if before is not None and (event == "DELETED" or before != node):
            names = self.pods_by_node.get(before)
            if names is not None:
                names.discard(key)
                if not names:
                    del self.pods_by_node[before]
            del self._pod_node[key]
        if event != "DELETED" and node:
            self.pods_by_node.setdefault(node, set()).add(key)
            self._pod_node[key] = node

    def _on_node(self, event: str, obj: Message, old: Message | None) -> None:
        if event == "DELETED":
            self.tracker.forget(obj.metadata.name)  # type: ignore[attr-defined]
        self.queue.add(object_key(obj))

    def pods_on(self, node: str) -> list[core_pb2.Pod]:
        pods = (self.pods.get(k) for k in sorted(self.pods_by_node.get(node, ())))
        return [p for p in pods if p is not None and p.spec.node_name == node]  # type: ignore[attr-defined]

    # -------------------------------------------------------------- running

    async def run(self, workers: int = 4) -> None:
        await asyncio.gather(super().run(workers), self._monitor())

    async def _monitor(self) -> None:
        """Every monitor period, look at every node (and at nodes Pods name that are gone)."""
        while True:
            for name in list(self.pods_by_node) + [n.metadata.name for n in self.nodes.items()]:  # type: ignore[attr-defined]
                self.queue.add(name)
            await asyncio.sleep(self.config.monitor_period)

    async def reconcile(self, key: str) -> None:
        now = self.clock()
        node: core_pb2.Node | None = self.nodes.get(key)  # type: ignore[assignment]
        if node is None:
            await self._node_missing(key, now)
            return
        self.missing_since.pop(key, None)
        lease = self.leases.get(f"{LEASE_NAMESPACE}/{key}")
        last_heard = self.tracker.observe(key, heartbeat_of(node, lease), now)
        decision = node_decision(node, last_heard, now, self.config.grace_period)
        if decision.set_unknown:
            node = await self._set_unknown(node, now)
            if decision.newly_not_ready:
                log.info("node not ready", node=key, silent_for=round(now - last_heard, 1))
                self.recorder.record(node, NORMAL, "NodeNotReady", f"Node {key} status is now: NodeNotReady")
        taints = desired_taints(node.spec.taints, decision.ready, now)
        if taints is not None:
            node = await self._set_taints(node, taints)
        pods = self.pods_on(key)
        evict = pods_to_evict(node, pods, now, self.config.pod_eviction_timeout)
        work = [self._evict(p) for p in evict]
        if decision.ready == "Unknown":
            evicted = {p.metadata.uid for p in evict}
            work += [self._mark_not_ready(p, now) for p in pods_to_mark_not_ready(pods)
                     if p.metadata.uid not in evicted]
            work += [self._force_delete(p, "the node is unreachable") for p in
                     pods_to_force_delete(pods, now, self.config.terminating_pod_gc_delay)]
        await self._all(work)

    async def _node_missing(self, name: str, now: float) -> None:
        """Pods bound to a Node that does not exist (deleted): force-delete after the quarantine."""
        self.tracker.forget(name)
        pods = self.pods_on(name)
        if not pods:
            self.missing_since.pop(name, None)
            return
        since = self.missing_since.setdefault(name, now)
        if now - since >= self.config.orphaned_pod_gc_delay:
            await self._all([self._force_delete(p, "its node is gone") for p in pods])

    async def _all(self, work: list) -> None:
        results = await asyncio.gather(*work, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    async def _set_unknown(self, node: core_pb2.Node, now: float) -> core_pb2.Node:
        new = core_pb2.Node()
        new.CopyFrom(node)
        new.status.CopyFrom(unknown_status(node, now))
        return await self.api.update_status(new)  # type: ignore[return-value]

    async def _set_taints(self, node: core_pb2.Node, taints: list[core_pb2.Taint]) -> core_pb2.Node:
        new = core_pb2.Node()
        new.CopyFrom(node)
        del new.spec.taints[:]
        new.spec.taints.extend(taints)
        updated: core_pb2.Node = await self.api.update(new)  # type: ignore[assignment]
        keys = sorted({f"{t.key}:{t.effect}" for t in taints if t.key in LIFECYCLE_TAINT_KEYS})
        log.info("node taints updated", node=node.metadata.name, lifecycle_taints=keys)
        return updated

    async def _evict(self, pod: core_pb2.Pod) -> None:
        meta = pod.metadata
        try:
            await self.api.delete("Pod", meta.name, meta.namespace, uid=meta.uid)
        except Exception as err:
            if is_not_found(err) or is_conflict(err):
                return
            raise
        log.info("evicting pod", pod=f"{meta.namespace}/{meta.name}", node=pod.spec.node_name)
        self.recorder.record(pod, NORMAL, "TaintManagerEviction", f"Marking for deletion Pod {meta.namespace}/{meta.name}")

    async def _force_delete(self, pod: core_pb2.Pod, why: str) -> None:
        meta = pod.metadata
        try:
            await self.api.delete("Pod", meta.name, meta.namespace, uid=meta.uid, grace_period_seconds=0)
        except Exception as err:
            if is_not_found(err) or is_conflict(err):
                return
            raise
        log.info("force-deleted pod", pod=f"{meta.namespace}/{meta.name}", node=pod.spec.node_name, reason=why)
        self.recorder.record(pod, WARNING, "ForceDeleted",
                             f"Force-deleted pod {meta.namespace}/{meta.name}: {why}")

    async def _mark_not_ready(self, pod: core_pb2.Pod, now: float) -> None:
        try:
            await self.api.update_status(not_ready_pod(pod, now))
        except Exception as err:  # noqa: BLE001 -- best effort: eviction does not depend on it
            if is_not_found(err) or is_conflict(err):
                return  # changed meanwhile: the next period looks again
            log.warning("marking pod not ready failed", pod=pod.metadata.name, error=describe(err))
