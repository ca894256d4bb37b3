"""NodeReady (filter): only Ready, schedulable (not cordoned) nodes take new Pods.

kube-scheduler leaves readiness to taints (the node lifecycle controller taints a
NotReady node), so its message names the taint. To say what it would say, a NotReady
node that carries a taint the Pod does not tolerate is reported by that taint;
"node(s) were not ready" is left for a NotReady node without one.
"""

from __future__ import annotations

from collections import Counter

from scheduler.interface import Cycle, Plugin
from scheduler.nodeinfo import NodeInfo, PodInfo
from scheduler.plugins.helpers import untolerated_taint, untolerated_taint_reason

UNSCHEDULABLE = "node(s) were unschedulable"
NOT_READY = "node(s) were not ready"


def reject_reason(pod: PodInfo, node: NodeInfo) -> str | None:
    if node.unschedulable:
        return UNSCHEDULABLE
    if not node.ready:
        taint = untolerated_taint(pod.tolerations, node.taints)
        return untolerated_taint_reason(taint) if taint is not None else NOT_READY
    return None


class NodeReady(Plugin):
    name = "NodeReady"

    def filter(self, pod: PodInfo, node: NodeInfo, cycle: Cycle) -> tuple[str, ...]:
        if node.ready and not node.unschedulable:  # the common case, without a call
            return ()
        reason = reject_reason(pod, node)
        return (reason,) if reason else ()

    def filter_all(self, pod: PodInfo, nodes: list[NodeInfo], cycle: Cycle, reasons: Counter) -> list[NodeInfo]:
        if cycle.summary().all_usable:  # the common case
            return nodes
        return super().filter_all(pod, nodes, cycle, reasons)
