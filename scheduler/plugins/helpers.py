"""Predicates several plugins share: whether a node takes new Pods at all, whether
its labels match a nodeSelector, and which of its taints a Pod does not tolerate.
NodeReady, NodeSelector and TaintToleration filter with them; PodSpread uses all
three to decide which nodes are eligible for spreading.

Toleration matching itself (``tolerates``) is Kubernetes' ToleratesTaint, shared
with the node lifecycle controller from apimachinery.taints.
"""

from __future__ import annotations

from collections.abc import Mapping

from apimachinery.taints import HARD_EFFECTS, Taint, untolerated_taint
from scheduler.nodeinfo import NodeInfo

__all__ = ["HARD_EFFECTS", "matches", "node_ok", "untolerated_taint", "untolerated_taint_reason"]


def node_ok(node: NodeInfo) -> bool:
    """Ready and schedulable (not cordoned)."""
    return node.ready and not node.unschedulable


def matches(node_selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Every key of the nodeSelector is a label with exactly that value."""
    return all(labels.get(key) == value for key, value in node_selector.items())


def untolerated_taint_reason(taint: Taint) -> str:
    return f"node(s) had untolerated taint {{{taint[0]}: {taint[1]}}}"
