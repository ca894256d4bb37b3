"""Which PersistentVolume a Pending PersistentVolumeClaim binds to: the pure decision of
Kubernetes' PV controller (pkg/controller/volume/persistentvolume, findMatchingVolume).

``plan_claim(claim, volumes, classes)`` returns a ``ClaimPlan``: bind to a volume, or stay
Pending with the event Kubernetes records. No API calls here; the executor (not written yet)
sets ``pv.spec.claimRef`` + phase Bound, then ``pvc.spec.volumeName`` + status Bound.

Rules (as Kubernetes):
* The claim's class: ``storageClassName`` when set ("" = no class); unset = the default
  StorageClass (annotation ``storageclass.kubernetes.io/is-default-class: "true"``), else "".
* A claim naming a volume (``volumeName``) binds to that volume only.
* A claim of a WaitForFirstConsumer class binds only once the scheduler has set
  ``volume.kubernetes.io/selected-node`` (Kubernetes' delayed binding), and then only to
  volumes that node can reach (their hostname node affinity admits it).
* A volume pre-bound to the claim (``claimRef`` namespace/name[/uid]) wins; other volumes must
  be Available with no claimRef, of the same class and volume mode, have every access mode the
  claim asks for, ``capacity[storage] >= requests[storage]``, and match the claim's selector.
  The smallest such volume is chosen (then by name).
* No match: a class that does not exist -> Warning ProvisioningFailed
  ``storageclass.storage.k8s.io "x" not found``; a WaitForFirstConsumer class -> Normal
  WaitForFirstConsumer until the scheduler sets the selected-node annotation; no class -> Normal FailedBinding ``no persistent volumes available for
  this claim and no storage class is set``; else Normal ExternalProvisioning.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from apimachinery.quantity import parse_quantity
from apimachinery.selectors import LabelSelector
from apimachinery.storage_classes import claim_class
from protos import core_pb2, storage_pb2

# Set by the scheduler on a WaitForFirstConsumer claim: the node its first Pod goes to.
SELECTED_NODE = "volume.kubernetes.io/selected-node"


@dataclass(frozen=True)
class Event:
    type: str  # Normal, Warning
    reason: str
    message: str


@dataclass(frozen=True)
class ClaimPlan:
    volume: str = ""  # the PersistentVolume to bind to; "" stays Pending
    event: Event | None = None


def _storage(resources: object) -> Decimal:
    text = resources.get("storage", "")  # type: ignore[attr-defined]
    return parse_quantity(text) if text else Decimal(0)


def _prebound(volume: core_pb2.PersistentVolume, claim: core_pb2.PersistentVolumeClaim) -> bool:
    ref = volume.spec.claim_ref
    return (ref.name == claim.metadata.name and ref.namespace == claim.metadata.namespace
            and (not ref.uid or ref.uid == claim.metadata.uid))


def _selector_matches(claim: core_pb2.PersistentVolumeClaim, volume: core_pb2.PersistentVolume) -> bool:
    if not claim.spec.HasField("selector"):
        return True
    sel = claim.spec.selector
    parts = [f"{k}={val}" for k, val in sorted(sel.match_labels.items())]
    for req in sel.match_expressions:
        if req.operator == "In":
            parts.append(f"{req.key} in ({','.join(req.values)})")
        elif req.operator == "NotIn":
            parts.append(f"{req.key} notin ({','.join(req.values)})")
        elif req.operator == "Exists":
            parts.append(req.key)
        elif req.operator == "DoesNotExist":
            parts.append(f"!{req.key}")
    return LabelSelector.parse(",".join(parts)).matches(dict(volume.metadata.labels))


def fits(claim: core_pb2.PersistentVolumeClaim, volume: core_pb2.PersistentVolume, klass: str) -> bool:
    """Whether volume satisfies claim (class, mode, access modes, size, selector)."""
    return (volume.spec.storage_class_name == klass
            and (volume.spec.volume_mode or "Filesystem") == (claim.spec.volume_mode or "Filesystem")
            and set(claim.spec.access_modes) <= set(volume.spec.access_modes)
            and _storage(volume.spec.capacity) >= _storage(claim.spec.resources.requests)
            and _selector_matches(claim, volume))


def reachable_from(volume: core_pb2.PersistentVolume, node: str) -> bool:
    """Whether a node named ``node`` may use the volume, judged on the hostname label only
    (the node's other labels are not known here): no required node affinity, or a term whose
    kubernetes.io/hostname expressions admit the name and that has no other key."""
    terms = volume.spec.node_affinity.required.node_selector_terms
    if not terms:
        return True
    for term in terms:
        ok = True
        for req in term.match_expressions:
            if req.key != "kubernetes.io/hostname":
                ok = False
            elif req.operator == "In":
                ok = ok and node in req.values
            elif req.operator == "NotIn":
                ok = ok and node not in req.values
            elif req.operator != "Exists":
                ok = False
        if ok:
            return True
    return False


def plan_claim(claim: core_pb2.PersistentVolumeClaim, volumes: Iterable[core_pb2.PersistentVolume],
               classes: Iterable[storage_pb2.StorageClass]) -> ClaimPlan:
    classes = list(classes)
    klass = claim_class(claim, classes)
    volumes = list(volumes)
    if claim.spec.volume_name:
        named = next((pv for pv in volumes if pv.metadata.name == claim.spec.volume_name), None)
        if named is None:
            return ClaimPlan(event=Event("Normal", "FailedBinding", "volume \"%s\" not found" % claim.spec.volume_name))
        if named.spec.claim_ref.name and not _prebound(named, claim):
            return ClaimPlan(event=Event("Warning", "FailedBinding",
                                         f"volume \"{named.metadata.name}\" already bound to a different claim."))
        return ClaimPlan(volume=named.metadata.name)
    prebound = sorted(pv.metadata.name for pv in volumes if pv.spec.claim_ref.name and _prebound(pv, claim))
    if prebound:
        return ClaimPlan(volume=prebound[0])
    found = next((c for c in classes if c.metadata.name == klass), None) if klass else None
    delayed = found is not None and found.volume_binding_mode == "WaitForFirstConsumer"
    node = claim.metadata.annotations.get(SELECTED_NODE, "")
    if delayed and not node:  # Kubernetes' shouldDelayBinding: wait for the scheduler's choice
        candidates = []
    else:
        candidates = [pv for pv in volumes if not pv.spec.claim_ref.name and pv.status.phase == "Available"
                      and fits(claim, pv, klass) and (not delayed or reachable_from(pv, node))]
    if candidates:
        best = min(candidates, key=lambda pv: (_storage(pv.spec.capacity), pv.metadata.name))
        return ClaimPlan(volume=best.metadata.name)
    if not klass:
        return ClaimPlan(event=Event("Normal", "FailedBinding",
                                     "no persistent volumes available for this claim and no storage class is set"))
    if found is None:
        return ClaimPlan(event=Event("Warning", "ProvisioningFailed",
                                     f'storageclass.storage.k8s.io "{klass}" not found'))
    if found.volume_binding_mode == "WaitForFirstConsumer" and SELECTED_NODE not in claim.metadata.annotations:
        return ClaimPlan(event=Event("Normal", "WaitForFirstConsumer",
                                     "waiting for first consumer to be created before binding"))
    return ClaimPlan(event=Event("Normal", "ExternalProvisioning",
                                 f"Waiting for a volume to be created either by the external provisioner "
                                 f"'{found.provisioner}' or manually by the system administrator. If volume "
                                 f"creation is delayed, please verify that the provisioner is running and "
                                 f"correctly registered."))
