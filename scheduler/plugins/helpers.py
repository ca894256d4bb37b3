"""Predicates several plugins share: whether a node takes new Pods at all, whether
its labels match a nodeSelector, and which of its taints a Pod does not tolerate.
NodeReady, NodeSelector and TaintToleration filter with them; PodSpread uses all
three to decide which nodes are eligible for spreading.

Toleration matching itself (``tolerates``) is Kubernetes' ToleratesTaint, shared
with the node lifecycle controller from apimachinery.taints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from apimachinery.taints import Taint, Toleration, tolerates
from scheduler.nodeinfo import NodeInfo

HARD_EFFECTS = ("NoSchedule", "NoExecute")


def node_ok(node: NodeInfo) -> bool:
    """Ready and schedulable (not cordoned)."""
    return node.ready and not node.unschedulable


def matches(node_selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Every key of the nodeSelector is a label with exactly that value."""
    return all(labels.get(key) == value for key, value in node_selector.items())


def untolerated_taint(tolerations: tuple[Toleration, ...], taints: Iterable[Taint],
                      effects: tuple[str, ...] = HARD_EFFECTS) -> Taint | None:
    """The first taint with one of `effects` that no toleration tolerates."""
    for taint in taints:
        if taint[2] in effects and not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def untolerated_taint_reason(taint: Taint) -> str:
    return f"node(s) had untolerated taint {{{taint[0]}: {taint[1]}}}"
