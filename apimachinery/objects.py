"""Questions every component asks of an object's metadata, answered once.

* ``controller_ref``: the ownerReference with controller: true (Kubernetes'
  metav1.GetControllerOf); at most one exists.
* ``new_controller_ref``: the ownerReference a controller puts on what it makes (Kubernetes'
  metav1.NewControllerRef: controller and blockOwnerDeletion true).
* ``is_deleting``: the object has a deletionTimestamp (it is being deleted and only
  waits for its finalizers or its grace period).
"""

from __future__ import annotations

from google.protobuf.message import Message

from apimachinery.kinds import info_of
from protos import meta_pb2


def controller_ref(obj: Message) -> meta_pb2.OwnerReference | None:
    for ref in obj.metadata.owner_references:  # type: ignore[attr-defined]
        if ref.controller:
            return ref
    return None


def new_controller_ref(owner: Message) -> meta_pb2.OwnerReference:
    info = info_of(owner)
    meta = owner.metadata  # type: ignore[attr-defined]
    return meta_pb2.OwnerReference(api_version=info.api_version, kind=info.kind, name=meta.name,
                                   uid=meta.uid, controller=True, block_owner_deletion=True)


def is_deleting(obj: Message) -> bool:
    return obj.metadata.HasField("deletion_timestamp")  # type: ignore[attr-defined]
