"""ResourcesFit (filter): the Pod's cpu and memory requests must fit in what the node
has allocatable minus the requests of the Pods already there (assigned or assumed),
and the node must have room for one more Pod. Like kube-scheduler's NodeResourcesFit
it reports every shortage ("Insufficient cpu" and "Insufficient memory"), and a
resource the Pod does not request is not checked."""

from __future__ import annotations

from collections import Counter

from scheduler.interface import Cycle, Plugin
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

    def filter_all(self, pod: PodInfo, nodes: list[NodeInfo], cycle: Cycle, reasons: Counter) -> list[NodeInfo]:
        cpu, memory = pod.cpu, pod.memory
        passed = [n for n in nodes
                  if len(n.pods) < n.allocatable_pods
                  and (not cpu or cpu <= n.allocatable_cpu - n.requested_cpu)
                  and (not memory or memory <= n.allocatable_memory - n.requested_memory)]
        if len(passed) < len(nodes):  # rare: say why for the others
            fit = set(map(id, passed))
            for node in nodes:
                if id(node) not in fit:
                    reasons.update(insufficient(pod, node))
        return passed
