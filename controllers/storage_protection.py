"""Storage object in-use protection (Kubernetes' pvc-protection and pv-protection
controllers, with the StorageObjectInUseProtection admission plugin that adds the
finalizers at create — apiserver/registry/admission.py).

* A PersistentVolumeClaim carries the finalizer ``kubernetes.io/pvc-protection``: once it is
  being deleted, the finalizer is removed only when no Pod that has not terminated (phase
  other than Succeeded or Failed) uses the claim, so a claim is never deleted under a Pod.
* A PersistentVolume carries ``kubernetes.io/pv-protection``: removed once it is being
  deleted and not Bound to a claim.

``claim_in_use`` and ``volume_in_use`` are the pure decisions; the controller only removes
the finalizer."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import Message

from client.api import AsyncAPI, is_conflict, is_not_found
from client.events import EventRecorder
from client.informer import SharedInformers, object_key
from controllers.base import Controller
from protos import core_pb2

PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"


def claim_in_use(claim: core_pb2.PersistentVolumeClaim, pods: Iterable[core_pb2.Pod]) -> bool:
    for pod in pods:
        if pod.metadata.namespace != claim.metadata.namespace or pod.status.phase in ("Succeeded", "Failed"):
            continue
        if any(v.HasField("persistent_volume_claim") and v.persistent_volume_claim.claim_name == claim.metadata.name
               for v in pod.spec.volumes):
            return True
    return False


def volume_in_use(volume: core_pb2.PersistentVolume) -> bool:
    return volume.status.phase == "Bound"


class StorageProtectionController(Controller):
    """Keys: "claim:<ns>/<name>", "volume:<name>"."""

    name = "storage-protection-controller"

    def __init__(self, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder) -> None:
        super().__init__(api, informers, recorder)
        self.claims = informers.get("PersistentVolumeClaim")
        self.volumes = informers.get("PersistentVolume")
        self.pods = informers.get("Pod")
        self.claims.add_handler(self._on_claim)
        self.volumes.add_handler(self._on_volume)
        self.pods.add_handler(self._on_pod)

    def _on_claim(self, event: str, obj: Message, old: Message | None) -> None:
        if event != "DELETED" and obj.metadata.HasField("deletion_timestamp"):  # type: ignore[attr-defined]
            self.queue.add(f"claim:{object_key(obj)}")

    def _on_volume(self, event: str, obj: Message, old: Message | None) -> None:
        if event != "DELETED" and obj.metadata.HasField("deletion_timestamp"):  # type: ignore[attr-defined]
            self.queue.add(f"volume:{obj.metadata.name}")  # type: ignore[attr-defined]

    def _on_pod(self, event: str, obj: Message, old: Message | None) -> None:
        pod: core_pb2.Pod = obj  # type: ignore[assignment]
        if event == "DELETED" or pod.status.phase in ("Succeeded", "Failed"):
            for volume in pod.spec.volumes:  # a claim it held may go now
                if volume.HasField("persistent_volume_claim"):
                    self.queue.add(f"claim:{pod.metadata.namespace}/{volume.persistent_volume_claim.claim_name}")

    async def reconcile(self, key: str) -> None:
        side, _, name = key.partition(":")
        if side == "claim":
            claim: core_pb2.PersistentVolumeClaim | None = self.claims.get(name)  # type: ignore[assignment]
            if claim is None or not claim.metadata.HasField("deletion_timestamp") \
                    or PVC_PROTECTION not in claim.metadata.finalizers:
                return
            if claim_in_use(claim, self.pods.items()):  # type: ignore[arg-type]
                return  # a Pod event brings the key back
            await self._release(claim, PVC_PROTECTION)
        else:
            volume: core_pb2.PersistentVolume | None = self.volumes.get(name)  # type: ignore[assignment]
            if volume is None or not volume.metadata.HasField("deletion_timestamp") \
                    or PV_PROTECTION not in volume.metadata.finalizers or volume_in_use(volume):
                return
            await self._release(volume, PV_PROTECTION)

    async def _release(self, obj: Message, finalizer: str) -> None:
        new = type(obj)()
        new.CopyFrom(obj)
        keep = [f for f in new.metadata.finalizers if f != finalizer]  # type: ignore[attr-defined]
        del new.metadata.finalizers[:]  # type: ignore[attr-defined]
        new.metadata.finalizers.extend(keep)  # type: ignore[attr-defined]
        try:
            await self.api.update(new)
        except Exception as err:
            # a conflict: the object changed, and its event brings the key back
            if not (is_conflict(err) or is_not_found(err)):
                raise
