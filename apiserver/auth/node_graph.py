"""Which ConfigMaps, Secrets, PersistentVolumeClaims and PersistentVolumes each node may
read: those a Pod bound to it refers to, and the volumes bound to those claims (Kubernetes'
node authorizer graph, reduced to the pod -> configmap/secret/pvc and pvc -> pv edges).

Kept equal to the watch cache (every Pod and claim now, then every change); the Node
authorizer asks ``allows(node, kind, namespace, name)``."""

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
        self._claims_of_volume: dict[str, set[tuple[str, str]]] = {}  # PV name -> claims bound to it
        self._volume_of_claim: dict[tuple[str, str], str] = {}

    @staticmethod
    def _edges_of(pod: core_pb2.Pod) -> frozenset[Edge]:
        node = pod.spec.node_name
        if not node:
            return frozenset()
        ns = pod.metadata.namespace
        refs = set(config_references(pod.spec))
        refs.update(("PersistentVolumeClaim", v.persistent_volume_claim.claim_name) for v in pod.spec.volumes
                    if v.HasField("persistent_volume_claim"))
        return frozenset((node, kind, ns, name) for kind, name in refs)

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

    def set_claim(self, claim: core_pb2.PersistentVolumeClaim) -> None:
        self.remove_claim(claim)
        if claim.spec.volume_name:
            key = (claim.metadata.namespace, claim.metadata.name)
            self._volume_of_claim[key] = claim.spec.volume_name
            self._claims_of_volume.setdefault(claim.spec.volume_name, set()).add(key)

    def remove_claim(self, claim: core_pb2.PersistentVolumeClaim) -> None:
        key = (claim.metadata.namespace, claim.metadata.name)
        volume = self._volume_of_claim.pop(key, None)
        if volume is not None:
            claims = self._claims_of_volume.get(volume, set())
            claims.discard(key)
            if not claims:
                self._claims_of_volume.pop(volume, None)

    def replace_claims(self, claims: Iterable[core_pb2.PersistentVolumeClaim]) -> None:
        self._claims_of_volume.clear()
        self._volume_of_claim.clear()
        for claim in claims:
            self.set_claim(claim)

    def allows(self, node: str, kind: str, namespace: str, name: str) -> bool:
        if kind == "PersistentVolume":  # bound to a claim a Pod of the node uses
            return any(self._edges.get((node, "PersistentVolumeClaim", ns, claim), 0) > 0
                       for ns, claim in self._claims_of_volume.get(name, ()))
        return self._edges.get((node, kind, namespace, name), 0) > 0
