"""Delete: graceful deletion (a bound Pod waits for its kubelet), finalizers, propagation
(Orphan and Foreground by the garbage collector's finalizers), and a Namespace taking its
contents along."""

from __future__ import annotations

from google.protobuf.message import Message

from apimachinery.kinds import KindInfo, kind_info
from apimachinery.names import go_quote
from apiserver import errors
from apiserver.registry.cluster import SYSTEM_NAMESPACES
from apiserver.registry.core import RegistryCore, Write, copy_message
from protos import core_pb2

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")


class Deletion(RegistryCore):
    """The Delete verb and what deletion means for writes (``_deletion_write``)."""

    def _removable(self, obj: Message) -> bool:
        """May an object marked for deletion go now? Not while finalizers remain,
        nor while a bound Pod's kubelet has not confirmed (grace period > 0)."""
        meta = obj.metadata  # type: ignore[attr-defined]
        if meta.finalizers:
            return False
        if isinstance(obj, core_pb2.Pod) and obj.spec.node_name and meta.deletion_grace_period_seconds > 0:
            return obj.status.phase in ("Succeeded", "Failed")
        return True

    def _deletion_write(self, write: Write) -> Write:
        """Turn a write of an object being deleted into its removal once nothing holds it."""
        new = write.new
        if new is not None and new.metadata.HasField("deletion_timestamp") and self._removable(new):  # type: ignore[attr-defined]
            return Write(write.info, write.key, None, write.old)
        return write

    def _prepare_delete(self, info: KindInfo, key: str, old: Message, grace: int | None,
                        propagation: str) -> Write | None:
        new = copy_message(old)
        meta = new.metadata  # type: ignore[attr-defined]
        if isinstance(new, core_pb2.Pod):
            if grace is None:
                grace = (meta.deletion_grace_period_seconds if meta.HasField("deletion_timestamp")
                         else new.spec.termination_grace_period_seconds)
            if not new.spec.node_name or new.status.phase in ("Succeeded", "Failed"):
                grace = 0  # nothing runs it, or nothing runs any more: no one to wait for
        else:
            grace = 0
        if meta.HasField("deletion_timestamp") and grace >= meta.deletion_grace_period_seconds:
            # Already being deleted, no sooner than asked: nothing to change.
            return None if not self._removable(new) else Write(info, key, None, old)
        # Orphan and Foreground are carried out by the garbage collector, which the
        # apiserver tells by a finalizer (as Kubernetes does). With no dependents there
        # is nothing to orphan or wait for.
        finalizer = {"Orphan": ORPHAN_FINALIZER, "Foreground": FOREGROUND_FINALIZER}.get(propagation)
        if finalizer and finalizer not in meta.finalizers and self._has_dependents(meta.uid):
            meta.finalizers.append(finalizer)
        self._stamp(meta.deletion_timestamp, grace)
        meta.deletion_grace_period_seconds = grace
        if isinstance(new, core_pb2.Namespace):
            new.status.phase = "Terminating"
        if self._removable(new) and not (isinstance(new, core_pb2.Namespace)
                                        and self.cache.namespace_counts[meta.name] > 0):
            return Write(info, key, None, old)
        return Write(info, key, new, old)

    def _has_dependents(self, uid: str) -> bool:
        return any(ref.uid == uid
                   for objects in self.cache.objects.values() for obj in objects.values()
                   for ref in obj.metadata.owner_references)  # type: ignore[attr-defined]

    def delete(self, kind: str, namespace: str, name: str, *, uid: str = "", resource_version: str = "",
               grace_period_seconds: int | None = None, propagation_policy: str = "",
               dry_run: bool = False) -> Message:
        info = self._info(kind)
        if propagation_policy and propagation_policy not in PROPAGATION_POLICIES:
            raise errors.BadRequest(f'propagationPolicy "{propagation_policy}" is not one of '
                                    f'{", ".join(PROPAGATION_POLICIES)}')
        if grace_period_seconds is not None and grace_period_seconds < 0:
            raise errors.BadRequest("gracePeriodSeconds must be greater than or equal to 0")
        key, old = self._current(info, self._namespace_of(info, namespace), name)
        old_meta = old.metadata  # type: ignore[attr-defined]
        if info.kind == "Namespace" and name in SYSTEM_NAMESPACES:
            raise errors.Forbidden(f'namespaces {go_quote(name)} is forbidden: this namespace may not be deleted')
        if uid and uid != old_meta.uid:
            raise self._conflict(info, name, f"Precondition failed: UID in precondition: {uid}, "
                                 f"UID in object meta: {old_meta.uid}")
        if resource_version and resource_version != old_meta.resource_version:
            raise self._conflict(info, name, "Precondition failed: ResourceVersion in precondition: "
                                 f"{resource_version}, ResourceVersion in object meta: {old_meta.resource_version}")
        self.admission.admit(info, "delete", old, None, grace_period_seconds=grace_period_seconds)
        write = self._prepare_delete(info, key, old, grace_period_seconds, propagation_policy)
        if write is None:
            return old
        if dry_run:
            return write.new or old
        result = self._commit([write])[0]
        if info.kind == "Namespace" and write.new is not None:
            self._delete_namespace_contents(name)
        return result

    def _delete_namespace_contents(self, namespace: str) -> None:
        """A Namespace being deleted takes everything in it along."""
        for info_kind, objects in list(self.cache.objects.items()):
            info = kind_info(info_kind)
            if not info.namespaced:
                continue
            for key, obj in list(objects.items()):
                if obj.metadata.namespace == namespace:  # type: ignore[attr-defined]
                    write = self._prepare_delete(info, key, obj, None, "")
                    if write is not None:
                        self._commit([write])
