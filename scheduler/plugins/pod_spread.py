"""PodSpread: spread the Pods of one controller (same owner uid) across nodes
(kube-scheduler's PodTopologySpread on kubernetes.io/hostname, whenUnsatisfiable
DoNotSchedule, with maxSkew 1 by default rather than 3: 4 replicas on 3 nodes land 2/1/1).

Filter: placing the Pod on a node must not make count(node) - min(count over eligible
nodes) exceed maxSkew. Eligible nodes are those the Pod could ever run on: Ready,
schedulable, taints tolerated, nodeSelector matched. A dead or cordoned node is not
eligible, so its zero does not pin the minimum and block every other node.
Score: fewer Pods of the owner on the node is better.

The counts come from the cache's per-node owner counters, so assumed Pods count: a
burst of Pods queued before any Bind returns still spreads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.interface import MAX_NODE_SCORE, SKIP, Cycle, Plugin, normalize_lower_is_better
from scheduler.nodeinfo import NodeInfo, PodInfo
from scheduler.plugins.helpers import matches, node_ok, untolerated_taint

SKEW = "node(s) didn't match pod topology spread constraints"


def eligible(pod: PodInfo, node: NodeInfo) -> bool:
    return (node_ok(node)
            and (not node.taints or untolerated_taint(pod.tolerations, node.taints) is None)
            and (not pod.node_selector or matches(pod.node_selector, node.labels)))


def min_count(pod: PodInfo, nodes: Sequence[NodeInfo]) -> int | None:
    """The fewest Pods of the owner on any eligible node (None when no node is eligible)."""
    lowest: int | None = None
    for node in nodes:
        if eligible(pod, node):
            count = node.owner_counts.get(pod.owner_uid, 0)
            if lowest is None or count < lowest:
                lowest = count
                if lowest == 0:
                    break
    return lowest


def violates_skew(count_on_node: int, lowest: int, max_skew: int) -> bool:
    return count_on_node + 1 - lowest > max_skew


@dataclass
class PodSpread(Plugin):
    maxSkew: int = 1
    name = "PodSpread"

    def __post_init__(self) -> None:
        if self.maxSkew < 1:
            raise TypeError("maxSkew must be >= 1")

    def pre_filter(self, pod: PodInfo, cycle: Cycle) -> str | None:
        lowest = cycle.data[self.name] = min_count(pod, cycle.nodes) if pod.owner_uid else None
        return SKIP if lowest is None else None  # no owner, or no eligible node: nothing to check

    def filter(self, pod: PodInfo, node: NodeInfo, cycle: Cycle) -> tuple[str, ...]:
        lowest = cycle.data.get(self.name)
        if lowest is None:  # no owner, or no eligible node (the other filters say why)
            return ()
        if violates_skew(node.owner_counts.get(pod.owner_uid, 0), lowest, self.maxSkew):
            return (SKEW,)
        return ()

    def filter_all(self, pod: PodInfo, nodes: list[NodeInfo], cycle: Cycle, reasons: Counter) -> list[NodeInfo]:
        lowest = cycle.data.get(self.name)
        if lowest is None:
            return nodes
        owner, limit = pod.owner_uid, lowest + self.maxSkew - 1  # violates_skew, solved for the count
        passed = [n for n in nodes if n.owner_counts.get(owner, 0) <= limit]
        if len(passed) < len(nodes):
            reasons[SKEW] += len(nodes) - len(passed)
        return passed

    def pre_score(self, pod: PodInfo, nodes: Sequence[NodeInfo], cycle: Cycle) -> int | None:
        return None if pod.owner_uid else MAX_NODE_SCORE  # no owner: every node scores 0 raw, 100 normalized

    def score_all(self, pod: PodInfo, nodes: Sequence[NodeInfo], cycle: Cycle) -> list[float]:
        owner = pod.owner_uid
        return [node.owner_counts.get(owner, 0) for node in nodes]

    def score(self, pod: PodInfo, node: NodeInfo, cycle: Cycle) -> float:
        return node.owner_counts.get(pod.owner_uid, 0) if pod.owner_uid else 0

    def normalize(self, scores: list[float]) -> list[int]:
        return normalize_lower_is_better(scores)
