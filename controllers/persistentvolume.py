"""The PersistentVolume controller (Kubernetes' pkg/controller/volume/persistentvolume):
binds Pending claims to volumes, keeps both phases true, releases a volume whose claim is
gone and applies its reclaim policy.

Pure decisions, then a thin executor:

* ``plan_claim_sync(claim, volumes, classes)`` -> ``ClaimSync``: a Pending claim binds to
  the volume ``volume_binding.plan_claim`` chooses (the volume first: claimRef + phase Bound,
  then the claim: volumeName + annotation ``pv.kubernetes.io/bind-completed`` + status
  Bound with the volume's capacity and access modes), or stays Pending with the plan's
  event; a claim with volumeName whose volume is gone turns Lost (Warning ClaimLost).
* ``plan_volume_sync(volume, claim)`` -> ``VolumeSync``: the phase a volume should have:
  Available (no claimRef, or pre-bound to a claim that does not exist yet), Bound (its
  claim exists with the same uid), Released (its claim was deleted); a Released volume
  with reclaim policy Delete is deleted — by the local-path provisioner when it made it
  (controllers/local_path.py removes the directory first), else it turns Failed (no
  deleter plugin here, Kubernetes' VolumeFailedDelete). Retain keeps it Released.

Events are recorded once per change (the last one per claim is remembered), not at
every resync as Kubernetes' controller does (its event correlator then folds them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from google.protobuf.message import Message

from client.api import AsyncAPI, is_conflict, is_not_found
from client.events import NORMAL, WARNING, EventRecorder
from client.informer import SharedInformers, object_key
from controllers.base import Controller
from controllers.volume_binding import Event, plan_claim
from protos import core_pb2, meta_pb2, storage_pb2

log = structlog.get_logger("persistentvolume-binder-controller")

BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
LOCAL_PATH_PROVISIONER = "pykube.io/local-path"
CLAIM_LOST = Event("Warning", "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!")


@dataclass(frozen=True)
class ClaimSync:
    bind_to: str = ""  # bind the claim to this volume
    phase: str = ""  # set the claim's phase to this ("" : leave)
    event: Event | None = None


@dataclass(frozen=True)
class VolumeSync:
    phase: str = ""  # set the volume's status.phase to this ("" : leave)
    message: str = ""
    event: Event | None = None


def plan_claim_sync(claim: core_pb2.PersistentVolumeClaim, volumes: Iterable[core_pb2.PersistentVolume],
                    classes: Iterable[storage_pb2.StorageClass]) -> ClaimSync:
    if claim.metadata.HasField("deletion_timestamp"):
        return ClaimSync()
    volumes = list(volumes)
    if claim.spec.volume_name:
        volume = next((v for v in volumes if v.metadata.name == claim.spec.volume_name), None)
        if volume is None:
            if claim.status.phase == "Bound" or claim.metadata.annotations.get(BIND_COMPLETED):
                return ClaimSync(phase="Lost", event=CLAIM_LOST if claim.status.phase != "Lost" else None)
            return ClaimSync(event=plan_claim(claim, volumes, classes).event)
        ref = volume.spec.claim_ref
        if ref.name == claim.metadata.name and ref.namespace == claim.metadata.namespace \
                and ref.uid == claim.metadata.uid:
            return ClaimSync() if claim.status.phase == "Bound" else ClaimSync(bind_to=volume.metadata.name)
        if not ref.name:  # named by the claim, not yet claimed: bind it
            return ClaimSync(bind_to=volume.metadata.name)
        return ClaimSync(event=Event("Warning", "FailedBinding",
                                     f'volume "{volume.metadata.name}" already bound to a different claim.'))
    plan = plan_claim(claim, volumes, classes)
    if plan.volume:
        return ClaimSync(bind_to=plan.volume)
    return ClaimSync(event=plan.event)


def plan_volume_sync(volume: core_pb2.PersistentVolume, claim: core_pb2.PersistentVolumeClaim | None) -> VolumeSync:
    """(A volume being deleted is still synced: it must turn Released for pv-protection to let it go.)"""
    ref = volume.spec.claim_ref
    phase = volume.status.phase
    if not ref.name:
        return VolumeSync() if phase == "Available" else VolumeSync(phase="Available")
    if claim is not None and (not ref.uid or claim.metadata.uid == ref.uid):
        if claim.spec.volume_name == volume.metadata.name and ref.uid:
            return VolumeSync() if phase == "Bound" else VolumeSync(phase="Bound")
        # pre-bound (by the user, or by a provisioner) and not yet bound: the claim's sync binds it
        return VolumeSync() if phase in ("Available", "Bound") else VolumeSync(phase="Available")
    if not ref.uid and claim is None:  # pre-bound to a claim that does not exist yet
        return VolumeSync() if phase == "Available" else VolumeSync(phase="Available")
    # the claim is gone (or replaced by another with the same name): released
    if volume.spec.persistent_volume_reclaim_policy == "Delete":
        if volume.metadata.annotations.get(PROVISIONED_BY) == LOCAL_PATH_PROVISIONER:
            # the provisioner removes the directory, then the volume (controllers/local_path.py)
            return VolumeSync() if phase == "Released" else VolumeSync(phase="Released")
        if phase == "Failed":
            return VolumeSync()
        message = "error getting deleter volume plugin for volume \"%s\": no deletable volume plugin matched" \
            % volume.metadata.name
        return VolumeSync(phase="Failed", message=message, event=Event("Warning", "VolumeFailedDelete", message))
    if phase in ("Released", "Failed"):
        return VolumeSync()
    return VolumeSync(phase="Released")


# ------------------------------------------------------------------ the controller

class PersistentVolumeController(Controller):
    """Keys are "claim:<ns>/<name>" and "volume:<name>"; every change of one side enqueues
    the other side it refers to."""

    name = "persistentvolume-binder-controller"

    def __init__(self, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder) -> None:
        super().__init__(api, informers, recorder)
        self.claims = informers.get("PersistentVolumeClaim")
        self.volumes = informers.get("PersistentVolume")
        self.classes = informers.get("StorageClass")
        self.claims.add_handler(self._on_claim)
        self.volumes.add_handler(self._on_volume)
        self.classes.add_handler(self._on_class)
        self._last_event: dict[str, Event] = {}

    def _on_claim(self, event: str, obj: Message, old: Message | None) -> None:
        claim: core_pb2.PersistentVolumeClaim = obj  # type: ignore[assignment]
        key = object_key(claim)
        if event == "DELETED":
            self._last_event.pop(key, None)
        else:
            self.queue.add(f"claim:{key}")
        for volume in self.volumes.items():  # the volume bound (or pre-bound) to it
            ref = volume.spec.claim_ref  # type: ignore[attr-defined]
            if ref.name == claim.metadata.name and ref.namespace == claim.metadata.namespace \
                    or volume.metadata.name == claim.spec.volume_name:  # type: ignore[attr-defined]
                self.queue.add(f"volume:{volume.metadata.name}")  # type: ignore[attr-defined]

    def _on_volume(self, event: str, obj: Message, old: Message | None) -> None:
        volume: core_pb2.PersistentVolume = obj  # type: ignore[assignment]
        if event != "DELETED":
            self.queue.add(f"volume:{volume.metadata.name}")
        ref = volume.spec.claim_ref
        if ref.name:
            self.queue.add(f"claim:{ref.namespace}/{ref.name}")
        # a new or freed volume may fit a Pending claim
        for claim in self.claims.items():
            if claim.status.phase == "Pending" or claim.spec.volume_name == volume.metadata.name:  # type: ignore[attr-defined]
                self.queue.add(f"claim:{object_key(claim)}")

    def _on_class(self, event: str, obj: Message, old: Message | None) -> None:
        for claim in self.claims.items():
            if claim.status.phase == "Pending":  # type: ignore[attr-defined]
                self.queue.add(f"claim:{object_key(claim)}")

    async def reconcile(self, key: str) -> None:
        side, _, name = key.partition(":")
        if side == "claim":
            await self._sync_claim(name)
        else:
            await self._sync_volume(name)

    # ------------------------------------------------------------ claims

    def _record_once(self, claim: core_pb2.PersistentVolumeClaim, event: Event | None) -> None:
        key = object_key(claim)
        if event is None or self._last_event.get(key) == event:
            return
        self._last_event[key] = event
        self.recorder.record(claim, NORMAL if event.type == "Normal" else WARNING, event.reason, event.message)

    async def _sync_claim(self, key: str) -> None:
        claim: core_pb2.PersistentVolumeClaim | None = self.claims.get(key)  # type: ignore[assignment]
        if claim is None:
            return
        sync = plan_claim_sync(claim, self.volumes.items(), self.classes.items())  # type: ignore[arg-type]
        if sync.bind_to:
            volume: core_pb2.PersistentVolume | None = self.volumes.get(sync.bind_to)  # type: ignore[assignment]
            if volume is not None:
                await self._bind(claim, volume)
            return
        if sync.phase and sync.phase != claim.status.phase:
            new = core_pb2.PersistentVolumeClaim()
            new.CopyFrom(claim)
            new.status.phase = sync.phase
            await self._write(self.api.update_status(new))
        self._record_once(claim, sync.event)

    async def _bind(self, claim: core_pb2.PersistentVolumeClaim, volume: core_pb2.PersistentVolume) -> None:
        """Kubernetes' bind(): the volume first (claimRef with uid, phase Bound), then the
        claim (volumeName, bind-completed), then its status."""
        ref = volume.spec.claim_ref
        if ref.uid != claim.metadata.uid or ref.name != claim.metadata.name:
            new_pv = core_pb2.PersistentVolume()
            new_pv.CopyFrom(volume)
            new_pv.spec.claim_ref.CopyFrom(meta_pb2.ObjectReference(
                kind="PersistentVolumeClaim", api_version="v1", namespace=claim.metadata.namespace,
                name=claim.metadata.name, uid=claim.metadata.uid,
                resource_version=claim.metadata.resource_version))
            if not ref.name:
                new_pv.metadata.annotations[BOUND_BY_CONTROLLER] = "yes"
            volume = await self._write(self.api.update(new_pv))  # type: ignore[assignment]
            if volume is None:
                return
        if volume.status.phase != "Bound":
            new_pv = core_pb2.PersistentVolume()
            new_pv.CopyFrom(volume)
            new_pv.status.phase = "Bound"
            new_pv.status.message = ""
            new_pv.status.reason = ""
            if await self._write(self.api.update_status(new_pv)) is None:
                return
        if claim.spec.volume_name != volume.metadata.name or claim.metadata.annotations.get(BIND_COMPLETED) != "yes":
            new = core_pb2.PersistentVolumeClaim()
            new.CopyFrom(claim)
            new.spec.volume_name = volume.metadata.name
            new.metadata.annotations[BIND_COMPLETED] = "yes"
            if not claim.spec.volume_name:
                new.metadata.annotations[BOUND_BY_CONTROLLER] = "yes"
            claim = await self._write(self.api.update(new))  # type: ignore[assignment]
            if claim is None:
                return
        new = core_pb2.PersistentVolumeClaim()
        new.CopyFrom(claim)
        new.status.phase = "Bound"
        del new.status.access_modes[:]
        new.status.access_modes.extend(volume.spec.access_modes)
        new.status.capacity.clear()
        new.status.capacity.update(volume.spec.capacity)
        if new.status != claim.status:
            await self._write(self.api.update_status(new))
        self._last_event.pop(object_key(claim), None)
        log.info("claim bound", claim=object_key(claim), volume=volume.metadata.name)

    async def _write(self, call) -> Message | None:
        """The written object, or None on a conflict or NotFound (the watch brings the key back)."""
        try:
            return await call
        except Exception as err:
            if is_conflict(err) or is_not_found(err):
                return None
            raise

    # ------------------------------------------------------------ volumes

    async def _sync_volume(self, name: str) -> None:
        volume: core_pb2.PersistentVolume | None = self.volumes.get(name)  # type: ignore[assignment]
        if volume is None:
            return
        ref = volume.spec.claim_ref
        claim = self.claims.get(f"{ref.namespace}/{ref.name}") if ref.name else None
        sync = plan_volume_sync(volume, claim)  # type: ignore[arg-type]
        if sync.phase and sync.phase != volume.status.phase:
            new = core_pb2.PersistentVolume()
            new.CopyFrom(volume)
            new.status.phase = sync.phase
            new.status.message = sync.message
            await self._write(self.api.update_status(new))
            if sync.phase == "Released":
                log.info("volume released", volume=name, reclaim=volume.spec.persistent_volume_reclaim_policy)
        if sync.event is not None:
            self.recorder.record(volume, NORMAL if sync.event.type == "Normal" else WARNING,
                                 sync.event.reason, sync.event.message)
