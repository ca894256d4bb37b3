"""NodeSelector (filter): a Pod with spec.nodeSelector goes only to nodes whose labels
carry every key with exactly that value (kube-scheduler's NodeAffinity, selector part)."""

from __future__ import annotations

from scheduler.interface import SKIP, Cycle, Plugin
from scheduler.nodeinfo import NodeInfo, PodInfo
from scheduler.plugins.helpers import matches

MISMATCH = "node(s) didn't match Pod's node affinity/selector"


class NodeSelector(Plugin):
    name = "NodeSelector"

    def pre_filter(self, pod: PodInfo, cycle: Cycle) -> str | None:
        return None if pod.node_selector else SKIP

    def filter(self, pod: PodInfo, node: NodeInfo, cycle: Cycle) -> tuple[str, ...]:
        if not pod.node_selector or matches(pod.node_selector, node.labels):
            return ()
        return (MISMATCH,)
