"""LeastAllocated (score): prefer the node with the most room left, as the mean of its
free cpu and free memory fractions after placing the Pod (kube-scheduler's
NodeResourcesFit LeastAllocated strategy). Requests count with Kubernetes' non-zero
defaults (100m, 200Mi), so Pods without requests are spread as well."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.interface import MAX_NODE_SCORE, Cycle, Plugin
from scheduler.nodeinfo import NodeInfo, PodInfo


def free_fraction(requested: int, allocatable: int) -> float:
    if allocatable <= 0 or requested >= allocatable:
        return 0.0
    return (allocatable - requested) / allocatable


def least_allocated_score(pod: PodInfo, node: NodeInfo) -> float:
    cpu = free_fraction(node.nonzero_cpu + pod.nonzero_cpu, node.allocatable_cpu)
    memory = free_fraction(node.nonzero_memory + pod.nonzero_memory, node.allocatable_memory)
    return MAX_NODE_SCORE * (cpu + memory) / 2


class LeastAllocated(Plugin):
    name = "LeastAllocated"

    def score(self, pod: PodInfo, node: NodeInfo, cycle: Cycle) -> float:
        return least_allocated_score(pod, node)

    def score_all(self, pod: PodInfo, nodes: Sequence[NodeInfo], cycle: Cycle) -> list[float]:
        """least_allocated_score for every node, inlined, and remembered per node for
        Pods that request the same (a ReplicaSet's Pods all do): a node's score only
        changes when a Pod lands on it or leaves it, which clears node.score_cache."""
        pod_cpu, pod_memory = pod.nonzero_cpu, pod.nonzero_memory
        key = (self.name, pod_cpu, pod_memory)
        out = []
        for node in nodes:
            score = node.score_cache.get(key)
            if score is None:
                cpu_total, memory_total = node.allocatable_cpu, node.allocatable_memory
                cpu = node.nonzero_cpu + pod_cpu
                memory = node.nonzero_memory + pod_memory
                free = (cpu_total - cpu) / cpu_total if cpu < cpu_total else 0.0  # requested >= allocatable (or 0): 0
                if memory < memory_total:
                    free += (memory_total - memory) / memory_total
                score = node.score_cache[key] = MAX_NODE_SCORE * free / 2  # as least_allocated_score computes it
            out.append(score)
        return out

    def normalize(self, scores: list[float]) -> list[int]:
        return [int(s) for s in scores]  # already 0..100
