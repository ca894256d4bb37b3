"""The columns of ``get`` for storage: PersistentVolume, PersistentVolumeClaim and
StorageClass (Kubernetes' printers; see :mod:`.columns`)."""

from __future__ import annotations

import datetime
from typing import Any

from apimachinery.storage_classes import is_default_class
from apimachinery.tables import cells
from apimachinery.tables.cells import age
from apimachinery.tables.spec import AGE_COLUMN, NAME_COLUMN, Cell, Column
from protos import core_pb2, storage_pb2


# kubectl prints access modes abbreviated (helper.GetAccessModesAsString), in this order.
_ACCESS_MODE_SHORT = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                      ("ReadWriteOncePod", "RWOP"))


def access_modes_text(modes: Any) -> str:
    present = set(modes)
    return ",".join(short for mode, short in _ACCESS_MODE_SHORT if mode in present)


PERSISTENT_VOLUME_COLUMNS = (
    NAME_COLUMN,
    Column("Capacity", description="capacity is the description of the persistent volume's resources and capacity."),
    Column("Access Modes", description="accessModes contains all ways the volume can be mounted."),
    Column("Reclaim Policy", description="persistentVolumeReclaimPolicy defines what happens to a persistent "
                                         "volume when released from its claim."),
    Column("Status", description="phase indicates if a volume is available, bound to a claim, or released by a "
                                 "claim."),
    Column("Claim", description="claimRef is part of a bi-directional binding between PersistentVolume and "
                                "PersistentVolumeClaim."),
    Column("StorageClass", description="StorageClass of the pv"),
    Column("VolumeAttributesClass", description="VolumeAttributesClass of the pv"),
    Column("Reason", description="reason is a brief CamelCase string that describes any failure and is meant for "
                                 "machine parsing and tidy display in the CLI."),
    AGE_COLUMN,
    Column("VolumeMode", description="volumeMode defines if a volume is intended to be used with a formatted "
                                     "filesystem or to remain in raw block state.", priority=1),
)


def persistent_volume_row(pv: core_pb2.PersistentVolume, now: datetime.datetime) -> list[Cell]:
    spec = pv.spec
    claim = f"{spec.claim_ref.namespace}/{spec.claim_ref.name}" if spec.claim_ref.name else ""
    return [pv.metadata.name, spec.capacity.get("storage", ""), access_modes_text(spec.access_modes),
            spec.persistent_volume_reclaim_policy, pv.status.phase, claim, spec.storage_class_name, cells.UNSET,
            pv.status.reason, age(pv.metadata.creation_timestamp, now), spec.volume_mode or "Filesystem"]


PERSISTENT_VOLUME_CLAIM_COLUMNS = (
    NAME_COLUMN,
    Column("Status", description="phase represents the current phase of PersistentVolumeClaim."),
    Column("Volume", description="volumeName is the binding reference to the PersistentVolume backing this "
                                 "claim."),
    Column("Capacity", description="capacity represents the actual resources of the underlying volume."),
    Column("Access Modes", description="accessModes contains the actual access modes the volume backing the PVC "
                                       "has."),
    Column("StorageClass", description="StorageClass of the pvc"),
    Column("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"),
    AGE_COLUMN,
    Column("VolumeMode", description="volumeMode defines what type of volume is required by the claim.",
           priority=1),
)


def persistent_volume_claim_row(pvc: core_pb2.PersistentVolumeClaim, now: datetime.datetime) -> list[Cell]:
    spec, status = pvc.spec, pvc.status
    # kubectl shows capacity and access modes only once the claim is bound (from the status).
    bound = bool(spec.volume_name)
    return [pvc.metadata.name, status.phase, spec.volume_name,
            status.capacity.get("storage", "") if bound else "",
            access_modes_text(status.access_modes) if bound else "", spec.storage_class_name, cells.UNSET,
            age(pvc.metadata.creation_timestamp, now), spec.volume_mode or "Filesystem"]


STORAGE_CLASS_COLUMNS = (
    NAME_COLUMN,
    Column("Provisioner", description="provisioner indicates the type of the provisioner."),
    Column("ReclaimPolicy", description="reclaimPolicy controls the reclaimPolicy for dynamically provisioned "
                                        "PersistentVolumes of this storage class. Defaults to Delete."),
    Column("VolumeBindingMode", description="volumeBindingMode indicates how PersistentVolumeClaims should be "
                                            "provisioned and bound.  When unset, VolumeBindingImmediate is used. "
                                            "This field is only honored by servers that enable the "
                                            "VolumeScheduling feature."),
    Column("AllowVolumeExpansion", description="allowVolumeExpansion shows whether the storage class allow volume "
                                               "expand."),
    AGE_COLUMN,
)


def storage_class_row(sc: storage_pb2.StorageClass, now: datetime.datetime) -> list[Cell]:
    name = sc.metadata.name
    if is_default_class(sc):
        name += " (default)"
    return [name, sc.provisioner, sc.reclaim_policy or "Delete", sc.volume_binding_mode or "Immediate",
            "true" if sc.allow_volume_expansion else "false", age(sc.metadata.creation_timestamp, now)]
