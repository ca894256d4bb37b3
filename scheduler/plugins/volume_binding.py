"""VolumeBinding (filter + pre-bind): a Pod's persistentVolumeClaim volumes decide where
it may go (kube-scheduler's VolumeBinding plugin, for what pykube's volumes are).

* PreFilter: every claim of the Pod must exist and not be being deleted
  (``persistentvolumeclaim "x" not found``, ``persistentvolumeclaim "x" is being deleted``);
  a bound claim's volume must exist (``pvc(s) bound to non-existent pv(s)``); an unbound
  claim is fine only when its class binds WaitForFirstConsumer (the volume is made for the
  node chosen), else the Pod waits: ``pod has unbound immediate PersistentVolumeClaims``.
  Those reasons hold for every node.
* Filter: a node fits when it matches the ``nodeAffinity.required`` of every bound volume
  (terms ORed, expressions ANDed: In, NotIn, Exists, DoesNotExist, Gt, Lt), else
  ``node(s) had volume node affinity conflict``. An unbound WaitForFirstConsumer claim fits
  any node (pykube does not match static volumes of such a class per node, as Kubernetes'
  FindPodVolumes does: its provisioner makes one on the chosen node).
* PreBind: before the Pod's Bind, each unbound WaitForFirstConsumer claim gets the
  annotation ``volume.kubernetes.io/selected-node: <node>``; the provisioner (for pykube's
  class local-path, controllers/local_path.py) makes the volume there and the PV controller
  binds it. Unlike kube-scheduler, the Bind does not wait for that: the kubelet waits for
  the claim to be bound before starting the containers.

The plugin reads claims, volumes and classes from the scheduler's informers (``attach``),
and changes of them re-queue waiting Pods (the scheduler wires that, see ``watches``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from apimachinery.storage_classes import claim_class
from client.api import is_conflict
from protos import core_pb2
from scheduler.interface import SKIP, Cycle, Plugin
from scheduler.nodeinfo import NodeInfo, PodInfo

SELECTED_NODE = "volume.kubernetes.io/selected-node"
CONFLICT = "node(s) had volume node affinity conflict"
UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
MISSING_VOLUME = "pvc(s) bound to non-existent pv(s)"


class Lister(Protocol):
    def get(self, key: str) -> Any: ...
    def items(self) -> list[Any]: ...


def selector_matches(selector: core_pb2.NodeSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes' NodeSelector: any term matches, each term when all its expressions do."""
    return any(all(_requirement(r, labels) for r in term.match_expressions) for term in selector.node_selector_terms)


def _requirement(req: core_pb2.NodeSelectorRequirement, labels: Mapping[str, str]) -> bool:
    value = labels.get(req.key)
    if req.operator == "In":
        return value is not None and value in req.values
    if req.operator == "NotIn":
        return value is None or value not in req.values
    if req.operator == "Exists":
        return value is not None
    if req.operator == "DoesNotExist":
        return value is None
    if req.operator in ("Gt", "Lt") and value is not None and len(req.values) == 1:
        try:
            have, bound = Decimal(value), Decimal(req.values[0])
        except InvalidOperation:
            return False
        return have > bound if req.operator == "Gt" else have < bound
    return False


def claim_names(pod: core_pb2.Pod) -> list[str]:
    return [v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.HasField("persistent_volume_claim")]


@dataclass
class PodVolumes:
    """What pre_filter found: a reason every node fails with, the bound volumes' node
    affinities, and the claims to annotate at pre-bind."""

    reason: str = ""
    affinities: list[core_pb2.NodeSelector] = field(default_factory=list)
    delayed: list[str] = field(default_factory=list)  # unbound WaitForFirstConsumer claims


def _class_of(claim: core_pb2.PersistentVolumeClaim, classes: list[Any]) -> Any:
    name = claim_class(claim, classes)
    return next((c for c in classes if c.metadata.name == name), None) if name else None


def pod_volumes(pod: core_pb2.Pod, claims: Lister, volumes: Lister, classes: Lister) -> PodVolumes:
    """The pure part of pre_filter, over the three listers."""
    out = PodVolumes()
    namespace = pod.metadata.namespace
    for name in claim_names(pod):
        claim: core_pb2.PersistentVolumeClaim | None = claims.get(f"{namespace}/{name}")
        if claim is None:
            return PodVolumes(reason=f'persistentvolumeclaim "{name}" not found')
        if claim.metadata.HasField("deletion_timestamp"):
            return PodVolumes(reason=f'persistentvolumeclaim "{name}" is being deleted')
        if claim.spec.volume_name:
            volume: core_pb2.PersistentVolume | None = volumes.get(claim.spec.volume_name)
            if volume is None:
                return PodVolumes(reason=MISSING_VOLUME)
            if volume.spec.node_affinity.required.node_selector_terms:
                out.affinities.append(volume.spec.node_affinity.required)
            continue
        klass = _class_of(claim, classes.items())
        if klass is None or klass.volume_binding_mode != "WaitForFirstConsumer":
            return PodVolumes(reason=UNBOUND_IMMEDIATE)
        out.delayed.append(name)
    return out


class VolumeBinding(Plugin):
    name = "VolumeBinding"
    # The kinds the plugin reads: the scheduler hands it their informers (attach) and
    # re-queues unschedulable Pods when one of them changes.
    watches = ("PersistentVolumeClaim", "PersistentVolume", "StorageClass")

    def __init__(self) -> None:
        self.claims: Lister | None = None
        self.volumes: Lister | None = None
        self.classes: Lister | None = None
        self.api: Any = None

    def attach(self, api: Any, lister: Callable[[str], Lister]) -> None:
        self.api = api
        self.claims = lister("PersistentVolumeClaim")
        self.volumes = lister("PersistentVolume")
        self.classes = lister("StorageClass")

    def _volumes(self, pod: core_pb2.Pod) -> PodVolumes:
        if self.claims is None or self.volumes is None or self.classes is None:
            return PodVolumes(reason=UNBOUND_IMMEDIATE)  # not attached: nothing is known about claims
        return pod_volumes(pod, self.claims, self.volumes, self.classes)

    def pre_filter(self, pod: PodInfo, cycle: Cycle) -> str | None:
        if not any(v.HasField("persistent_volume_claim") for v in pod.pod.spec.volumes):
            return SKIP
        found = self._volumes(pod.pod)
        if not found.reason and not found.affinities:
            return SKIP
        cycle.data[self.name] = found
        return None

    def filter(self, pod: PodInfo, node: NodeInfo, cycle: Cycle) -> tuple[str, ...]:
        found: PodVolumes | None = cycle.data.get(self.name)
        if found is None:
            return ()
        if found.reason:
            return (found.reason,)
        if all(selector_matches(s, node.labels) for s in found.affinities):
            return ()
        return (CONFLICT,)

    async def pre_bind(self, pod: core_pb2.Pod, node: str) -> None:
        """Set selected-node on the Pod's unbound WaitForFirstConsumer claims (re-read, so a
        conflict is retried with the newest version)."""
        if self.api is None or not claim_names(pod):
            return
        for name in self._volumes(pod).delayed:
            for _ in range(5):
                claim = await self.api.get("PersistentVolumeClaim", name, pod.metadata.namespace)
                if claim.spec.volume_name or claim.metadata.annotations.get(SELECTED_NODE) == node:
                    break
                claim.metadata.annotations[SELECTED_NODE] = node
                try:
                    await self.api.update(claim)
                    break
                except Exception as err:
                    if not is_conflict(err):  # a conflict: read again
                        raise
