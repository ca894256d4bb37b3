"""PersistentVolumes, PersistentVolumeClaims (v1) and StorageClasses (storage.k8s.io/v1),
validated and defaulted as Kubernetes' pkg/apis/core and pkg/apis/storage validation does.

* Access modes are required and one of Kubernetes' four; a PV needs ``capacity[storage]`` and
  exactly one volume source (hostPath or local here); a PVC needs ``resources.requests[storage]``.
* A PVC's spec is immutable after creation, except ``resources.requests`` of a bound claim and
  ``volumeName`` being set once (the binder does that).
* Defaults: PV reclaim policy Retain, volume modes Filesystem, new PVs Pending / PVCs Pending;
  StorageClass reclaimPolicy Delete and volumeBindingMode Immediate. A StorageClass's
  provisioner, parameters and reclaimPolicy never change.
"""

from __future__ import annotations

from apimachinery.quantity import parse_quantity
from apimachinery.storage_classes import default_class
from apiserver.registry import validation as v
from apiserver.registry.base import Strategy
from protos import core_pb2, storage_pb2

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")
VOLUME_MODES = ("Block", "Filesystem")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
PVC_IMMUTABLE = ("spec is immutable after creation except resources.requests and volumeAttributesClassName "
                 "for bound claims")


def access_modes(path: str, modes: list[str], detail: str = "") -> list[v.FieldError]:
    if not modes:
        return [v.required(path, detail)]
    errs = [v.unsupported(path, mode, ACCESS_MODES) for mode in modes if mode not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.append(v.forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errs


def storage_quantity(path: str, resources: dict[str, str]) -> list[v.FieldError]:
    if "storage" not in resources:
        return [v.required(f"{path}[storage]")]
    errs = v.quantity(f"{path}[storage]", resources["storage"])
    if not errs and parse_quantity(resources["storage"]) <= 0:
        errs.append(v.invalid(f"{path}[storage]", resources["storage"], "must be greater than zero"))
    return errs


class PersistentVolumeStrategy(Strategy):
    kind = "PersistentVolume"

    def default(self, pv: core_pb2.PersistentVolume) -> None:
        if not pv.spec.persistent_volume_reclaim_policy:
            pv.spec.persistent_volume_reclaim_policy = "Retain"
        if not pv.spec.volume_mode:
            pv.spec.volume_mode = "Filesystem"

    def initial_status(self, pv: core_pb2.PersistentVolume) -> None:
        pv.status.phase = "Pending"

    def validate(self, pv: core_pb2.PersistentVolume) -> list[v.FieldError]:
        spec = pv.spec
        errs = access_modes("spec.accessModes", list(spec.access_modes))
        if not spec.capacity:
            errs.append(v.required("spec.capacity"))
        else:
            errs += storage_quantity("spec.capacity", dict(spec.capacity))
        if spec.persistent_volume_reclaim_policy not in RECLAIM_POLICIES:
            errs.append(v.unsupported("spec.persistentVolumeReclaimPolicy", spec.persistent_volume_reclaim_policy,
                                      RECLAIM_POLICIES))
        if spec.volume_mode not in VOLUME_MODES:
            errs.append(v.unsupported("spec.volumeMode", spec.volume_mode, VOLUME_MODES))
        sources = [name for name in ("host_path", "local") if spec.HasField(name)]
        if not sources:
            errs.append(v.required("spec", "must specify a volume type"))
        elif len(sources) > 1:
            errs.append(v.forbidden("spec.local", "may not specify more than 1 volume type"))
        if spec.HasField("host_path") and not spec.host_path.path:
            errs.append(v.required("spec.hostPath.path"))
        if spec.HasField("local"):
            if not spec.local.path:
                errs.append(v.required("spec.local.path"))
            if not spec.HasField("node_affinity"):
                errs.append(v.required("spec.nodeAffinity", "Local volume requires node affinity"))
        if spec.storage_class_name:
            errs += v.dns1123_subdomain("spec.storageClassName", spec.storage_class_name)
        return errs


class PersistentVolumeClaimStrategy(Strategy):
    kind = "PersistentVolumeClaim"

    def default(self, pvc: core_pb2.PersistentVolumeClaim) -> None:
        if not pvc.spec.volume_mode:
            pvc.spec.volume_mode = "Filesystem"

    def initial_status(self, pvc: core_pb2.PersistentVolumeClaim) -> None:
        pvc.status.phase = "Pending"

    def validate(self, pvc: core_pb2.PersistentVolumeClaim) -> list[v.FieldError]:
        spec = pvc.spec
        errs = access_modes("spec.accessModes", list(spec.access_modes), "at least 1 access mode is required")
        errs += storage_quantity("spec.resources", dict(spec.resources.requests))
        if spec.volume_mode not in VOLUME_MODES:
            errs.append(v.unsupported("spec.volumeMode", spec.volume_mode, VOLUME_MODES))
        if spec.HasField("storage_class_name") and spec.storage_class_name:
            errs += v.dns1123_subdomain("spec.storageClassName", spec.storage_class_name)
        return errs

    def validate_update(self, new: core_pb2.PersistentVolumeClaim,
                        old: core_pb2.PersistentVolumeClaim) -> list[v.FieldError]:
        compared = core_pb2.PersistentVolumeClaimSpec()
        compared.CopyFrom(new.spec)
        if not old.spec.volume_name:  # the binder sets volumeName once
            compared.volume_name = old.spec.volume_name
        if old.status.phase == "Bound":  # a bound claim may be resized
            compared.resources.requests.clear()
            compared.resources.requests.update(old.spec.resources.requests)
        if compared != old.spec:
            return [v.forbidden("spec", PVC_IMMUTABLE)]
        return []


class StorageClassStrategy(Strategy):
    kind = "StorageClass"

    def default(self, sc: storage_pb2.StorageClass) -> None:
        if not sc.reclaim_policy:
            sc.reclaim_policy = "Delete"
        if not sc.volume_binding_mode:
            sc.volume_binding_mode = "Immediate"

    def validate(self, sc: storage_pb2.StorageClass) -> list[v.FieldError]:
        errs = [] if sc.provisioner else [v.required("provisioner")]
        if sc.reclaim_policy not in ("Delete", "Retain"):
            errs.append(v.unsupported("reclaimPolicy", sc.reclaim_policy, ("Delete", "Retain")))
        if sc.volume_binding_mode not in BINDING_MODES:
            errs.append(v.unsupported("volumeBindingMode", sc.volume_binding_mode, BINDING_MODES))
        return errs

    def validate_update(self, new: storage_pb2.StorageClass, old: storage_pb2.StorageClass) -> list[v.FieldError]:
        errs = []
        if new.provisioner != old.provisioner:
            errs.append(v.forbidden("provisioner", "updates to provisioner are forbidden."))
        if dict(new.parameters) != dict(old.parameters):
            errs.append(v.forbidden("parameters", "updates to parameters are forbidden."))
        if new.reclaim_policy != old.reclaim_policy:
            errs.append(v.forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
        if new.volume_binding_mode != old.volume_binding_mode:
            errs.append(v.forbidden("volumeBindingMode", "field is immutable"))
        return errs




def default_storage_class(pvc: core_pb2.PersistentVolumeClaim, classes: list[storage_pb2.StorageClass]) -> None:
    """Kubernetes' DefaultStorageClass admission plugin: a claim created without
    ``storageClassName`` gets the default class's name (the newest default when several
    are marked, as Kubernetes since 1.26); no default class leaves it unset."""
    if pvc.spec.HasField("storage_class_name"):
        return
    default = default_class(classes)
    if default is not None:
        pvc.spec.storage_class_name = default.metadata.name


PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"


def in_use_protection(obj: core_pb2.PersistentVolumeClaim | core_pb2.PersistentVolume) -> None:
    """Kubernetes' StorageObjectInUseProtection admission plugin: a new claim gets the
    pvc-protection finalizer, a new volume pv-protection (controllers/storage_protection.py
    removes them once nothing uses the object)."""
    finalizer = PVC_PROTECTION if isinstance(obj, core_pb2.PersistentVolumeClaim) else PV_PROTECTION
    if finalizer not in obj.metadata.finalizers:
        obj.metadata.finalizers.append(finalizer)


STRATEGIES = (PersistentVolumeStrategy, PersistentVolumeClaimStrategy, StorageClassStrategy)
