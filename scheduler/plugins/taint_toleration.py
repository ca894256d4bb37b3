"""TaintToleration: a node's NoSchedule and NoExecute taints keep off every Pod that
does not tolerate them (filter); PreferNoSchedule taints only make a node less
attractive (score: fewer untolerated soft taints is better).

Toleration matching is Kubernetes' ToleratesTaint (apimachinery.taints.tolerates):
an empty effect matches every effect, an empty key every key, Exists every value,
Equal compares the value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from apimachinery.taints import Taint, Toleration, tolerates
from scheduler.interface import MAX_NODE_SCORE, Cycle, Plugin, normalize_lower_is_better
from scheduler.nodeinfo import NodeInfo, PodInfo
from scheduler.plugins.helpers import untolerated_taint, untolerated_taint_reason


def soft_taint_count(tolerations: tuple[Toleration, ...], taints: Iterable[Taint]) -> int:
    """PreferNoSchedule taints not tolerated by a toleration for that effect (or any effect)."""
    relevant = tuple(t for t in tolerations if t[3] in ("", "PreferNoSchedule"))
    return sum(1 for taint in taints
               if taint[2] == "PreferNoSchedule" and not any(tolerates(t, taint) for t in relevant))


class TaintToleration(Plugin):
    name = "TaintToleration"

    def filter(self, pod: PodInfo, node: NodeInfo, cycle: Cycle) -> tuple[str, ...]:
        if not node.taints:
            return ()
        taint = untolerated_taint(pod.tolerations, node.taints)
        return (untolerated_taint_reason(taint),) if taint is not None else ()

    def filter_all(self, pod: PodInfo, nodes: list[NodeInfo], cycle: Cycle, reasons: Counter) -> list[NodeInfo]:
        if not cycle.summary().any_taints:  # the common case: nothing to tolerate
            return nodes
        return super().filter_all(pod, nodes, cycle, reasons)

    def pre_score(self, pod: PodInfo, nodes: Sequence[NodeInfo], cycle: Cycle) -> int | None:
        # No taints on any candidate (the common case): every node scores 0 raw, 100 normalized.
        if not cycle.summary().any_taints:
            return MAX_NODE_SCORE
        return None if any(node.taints for node in nodes) else MAX_NODE_SCORE

    def score(self, pod: PodInfo, node: NodeInfo, cycle: Cycle) -> float:
        return soft_taint_count(pod.tolerations, node.taints) if node.taints else 0

    def normalize(self, scores: list[float]) -> list[int]:
        return normalize_lower_is_better(scores)
