"""The scheduler's cache: every Node and the Pods that hold room on it.

Fed by the Pod and Node informers, and by the scheduler itself: right after it
picks a node for a Pod it *assumes* the Pod there (counts its requests and its
spread) before the Bind RPC returns. Without that, a burst of Pods would all be
scored against the same stale picture and pile onto the same "best" node; with
it, the tenth Pod of a burst sees the nine before it. An assumed Pod is

- confirmed when the informer reports it bound (on whichever node it really went to),
- forgotten when its Bind fails, or
- expired if the informer has not confirmed it `assumed_ttl` seconds after its
  Bind succeeded (a lost watch event must not hold room forever).

Bound Pods being deleted (deletionTimestamp) or finished (Succeeded/Failed) do not
count. The cache is also the scheduler's snapshot: a scheduling cycle runs without
awaiting, so nothing changes under it between filtering and assuming.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from protos import core_pb2
from scheduler.interface import NodeSummary
from scheduler.nodeinfo import NodeInfo, PodInfo, controller_uid, is_counted

DEFAULT_ASSUMED_TTL = 30.0


@dataclass(slots=True)
class _PodState:
    info: PodInfo
    node: str
    assumed: bool
    deadline: float | None = None  # set when the assumed Pod's Bind succeeded


class SchedulerCache:
    def __init__(self, assumed_ttl: float = DEFAULT_ASSUMED_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.assumed_ttl = assumed_ttl
        self.clock = clock
        self._nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, _PodState] = {}  # uid -> where it counts
        self._ordered: list[NodeInfo] | None = None  # real nodes by name, rebuilt on add/remove
        self._summary: NodeSummary | None = None  # rebuilt when a node is added, removed or changes

    # ------------------------------------------------------------- snapshot

    def node_infos(self) -> list[NodeInfo]:
        """The known Nodes (not ghosts), ordered by name: the scheduling cycle's view."""
        if self._ordered is None:
            self._ordered = sorted((n for n in self._nodes.values() if n.node is not None), key=lambda n: n.name)
        return self._ordered

    def node_summary(self) -> NodeSummary:
        """Whether all nodes are usable and whether any has taints: plugins ask once
        per cycle instead of looking at every node."""
        if self._summary is None:
            self._summary = NodeSummary.of(self.node_infos())
        return self._summary

    def node_info(self, name: str) -> NodeInfo | None:
        return self._nodes.get(name)

    # ---------------------------------------------------------------- nodes

    def set_node(self, node: core_pb2.Node) -> bool:
        """Add or update a Node; True when the change may let a waiting Pod fit."""
        info = self._nodes.get(node.metadata.name)
        if info is None:
            info = self._nodes[node.metadata.name] = NodeInfo(node.metadata.name)
        before = info.scheduling_signature()
        was_real = info.node is not None
        info.set_node(node)
        if not was_real:
            self._ordered = None
        changed = info.scheduling_signature() != before
        if changed:
            self._summary = None
        return changed

    def remove_node(self, name: str) -> None:
        info = self._nodes.get(name)
        if info is None:
            return
        info.set_node(None)
        if not info.pods:
            del self._nodes[name]
        self._ordered = None
        self._summary = None

    # ------------------------------------------------- pods from the informer

    def set_pod(self, pod: core_pb2.Pod) -> bool:
        """Record what the informer says about a bound Pod. Returns True when room was
        freed (the Pod stopped counting or moved away), so waiting Pods may now fit."""
        uid = pod.metadata.uid
        state = self._pods.get(uid)
        if not pod.spec.node_name or not is_counted(pod):
            # Still unbound while we assume it (a late event from before our Bind): keep the bet.
            if state is not None and (not state.assumed or not is_counted(pod)):
                self._remove(uid)
                return True
            return False
        if state is not None:
            if state.node == pod.spec.node_name and state.info.owner_uid == controller_uid(pod):
                state.assumed = False  # confirmed: the Bind landed where we assumed it
                state.deadline = None
                return False
            # Bound elsewhere (another scheduler won the race), or orphaned by its owner: re-file it.
            self._remove(uid)
        self._add(PodInfo.of(pod), pod.spec.node_name, assumed=False)
        return state is not None and state.node != pod.spec.node_name

    def remove_pod(self, pod: core_pb2.Pod) -> bool:
        """The Pod is gone; True when it held room."""
        if pod.metadata.uid in self._pods:
            self._remove(pod.metadata.uid)
            return True
        return False

    # ------------------------------------------------ the scheduler's own bets

    def assume(self, pod: PodInfo, node_name: str) -> None:
        if pod.uid in self._pods:
            raise ValueError(f"pod {pod.key} is already in the cache")
        self._add(pod, node_name, assumed=True)

    def finish_binding(self, uid: str) -> None:
        """The Bind RPC succeeded: start the clock on the informer's confirmation."""
        state = self._pods.get(uid)
        if state is not None and state.assumed:
            state.deadline = self.clock() + self.assumed_ttl

    def forget(self, uid: str) -> bool:
        """Drop an assumption (its Bind failed). A Pod the informer already confirmed stays."""
        state = self._pods.get(uid)
        if state is None or not state.assumed:
            return False
        self._remove(uid)
        return True

    def is_assumed(self, uid: str) -> bool:
        state = self._pods.get(uid)
        return state is not None and state.assumed

    def has_pod(self, uid: str) -> bool:
        return uid in self._pods

    def cleanup_expired(self) -> list[str]:
        """Forget assumed Pods whose Bind succeeded but were never confirmed in time."""
        now = self.clock()
        expired = [uid for uid, s in self._pods.items()
                   if s.assumed and s.deadline is not None and s.deadline <= now]
        for uid in expired:
            self._remove(uid)
        return expired

    # ------------------------------------------------------------- internals

    def _add(self, pod: PodInfo, node_name: str, assumed: bool) -> None:
        info = self._nodes.get(node_name)
        if info is None:
            info = self._nodes[node_name] = NodeInfo(node_name)  # a ghost until its Node shows up
        info.add_pod(pod)
        self._pods[pod.uid] = _PodState(pod, node_name, assumed)

    def _remove(self, uid: str) -> None:
        state = self._pods.pop(uid)
        info = self._nodes.get(state.node)
        if info is None:
            return
        info.remove_pod(uid)
        if info.node is None and not info.pods:
            del self._nodes[state.node]

    def counts(self) -> dict[str, int]:
        """Pods per node (assigned and assumed), for logs and tests."""
        return {name: info.pod_count for name, info in sorted(self._nodes.items())}
