"""Which ConfigMaps and Secrets each node may read: those a Pod bound to it refers to
(Kubernetes' node authorizer graph, reduced to the pod -> configmap/secret edges).

Kept equal to the watch cache by ``attach`` (every Pod now, then every Pod change); the
Node authorizer asks ``allows(node, kind, namespace, name)``."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from apimachinery.pod_references import config_references
from protos import core_pb2

Edge = tuple[str, str, str, str]  # (node, kind, namespace, name)


class ConfigGraph:
    def __init__(self) -> None:
        self._by_pod: dict[str, frozenset[Edge]] = {}
        self._edges: Counter[Edge] = Counter()

    @staticmethod
    def _edges_of(pod: core_pb2.Pod) -> frozenset[Edge]:
        node = pod.spec.node_name
        if not node:
            return frozenset()
        ns = pod.metadata.namespace
        return frozenset((node, kind, ns, name) for kind, name in config_references(pod.spec))

    def _key(self, pod: core_pb2.Pod) -> str:
        return f"{pod.metadata.namespace}/{pod.metadata.name}"

    def set(self, pod: core_pb2.Pod) -> None:
        self.remove(pod)
        edges = self._edges_of(pod)
        if edges:
            self._by_pod[self._key(pod)] = edges
            self._edges.update(edges)

    def remove(self, pod: core_pb2.Pod) -> None:
        old = self._by_pod.pop(self._key(pod), frozenset())
        self._edges.subtract(old)
        for edge in old:
            if self._edges[edge] <= 0:
                del self._edges[edge]

    def replace(self, pods: Iterable[core_pb2.Pod]) -> None:
        self._by_pod.clear()
        self._edges.clear()
        for pod in pods:
            self.set(pod)

    def allows(self, node: str, kind: str, namespace: str, name: str) -> bool:
        return self._edges.get((node, kind, namespace, name), 0) > 0
