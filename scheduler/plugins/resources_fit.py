"""ResourcesFit (filter): the Pod's cpu and memory requests must fit in what the node
has allocatable minus the requests of the Pods already there (assigned or assumed),
and the node must have room for one more Pod. Like kube-scheduler's NodeResourcesFit
it reports every shortage ("Insufficient cpu" and "Insufficient memory"), and a
resource the Pod does not request is not checked."""

from __future__ import annotations

from scheduler.framework import Cycle, Plugin
from scheduler.nodeinfo import NodeInfo, PodInfo

TOO_MANY_PODS = "Too many pods"
INSUFFICIENT_CPU = "Insufficient cpu"
INSUFFICIENT_MEMORY = "Insufficient memory"


def insufficient(pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
    reasons: list[str] = []
    if node.pod_count + 1 > node.allocatable_pods:
        reasons.append(TOO_MANY_PODS)
    if pod.cpu and pod.cpu > node.allocatable_cpu - node.requested_cpu:
        reasons.append(INSUFFICIENT_CPU)
    if pod.memory and pod.memory > node.allocatable_memory - node.requested_memory:
        reasons.append(INSUFFICIENT_MEMORY)
    return tuple(reasons)


class ResourcesFit(Plugin):
    name = "ResourcesFit"

    def filter(self, pod: PodInfo, node: NodeInfo, cycle: Cycle) -> tuple[str, ...]:
        return insufficient(pod, node)
