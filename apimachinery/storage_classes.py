"""The default StorageClass, answered once for the apiserver's admission, the PV controller,
the scheduler and the printers.

A class is the default when its annotation ``storageclass.kubernetes.io/is-default-class`` is
``"true"``. When several are marked, the most recently created one wins (Kubernetes'
GetDefaultStorageClass since 1.26), ties broken by name. A claim's class is its
``storageClassName`` when set ("" means no class), else the default's name, else "".
"""

from __future__ import annotations

from typing import Iterable

from protos import core_pb2, storage_pb2

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def is_default_class(sc: storage_pb2.StorageClass) -> bool:
    return sc.metadata.annotations.get(DEFAULT_CLASS_ANNOTATION) == "true"


def default_class(classes: Iterable[storage_pb2.StorageClass]) -> storage_pb2.StorageClass | None:
    defaults = [c for c in classes if is_default_class(c)]
    if not defaults:
        return None
    return max(defaults, key=lambda c: (c.metadata.creation_timestamp.seconds, c.metadata.creation_timestamp.nanos,
                                        c.metadata.name))


def claim_class(claim: core_pb2.PersistentVolumeClaim, classes: Iterable[storage_pb2.StorageClass]) -> str:
    """The name of the class a claim asks for (see the module docstring)."""
    if claim.spec.HasField("storage_class_name"):
        return claim.spec.storage_class_name
    default = default_class(classes)
    return default.metadata.name if default is not None else ""
