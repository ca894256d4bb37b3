"""Create, update, update-status and bind: each plans its write (defaults, validation,
admission, the field manager's record) and commits it through the core's write path."""

from __future__ import annotations

import random
import uuid

from google.protobuf.message import Message

from apimachinery.kinds import KindInfo, info_of, kind_info
from apimachinery.names import go_quote
from apiserver import errors
from apiserver.registry import validation as v
from apiserver.registry.core import Write, copy_message, group_resource, object_key
from apiserver.registry.deletion import Deletion
from apiserver.registry.field_diff import compare
from apiserver.registry.managed_fields import MANAGER, UPDATE, Managed, ManagerKey, record_update
from protos import core_pb2

# Characters Kubernetes uses for generated name suffixes (no vowels, no look-alikes).
NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class Writes(Deletion):
    """The Create, Update, UpdateStatus and Bind verbs."""

    def _prepare_create(self, obj: Message, creating_namespaces: set[str] = frozenset(),  # type: ignore[assignment]
                        manager: str | None = None) -> Write:
        """The write a Create of obj makes; ``manager`` (default: the request's MANAGER, ""
        for none) is recorded as owning the fields it set."""
        info = info_of(obj)
        strategy = self.strategies[info.kind]
        new = copy_message(obj)
        meta = new.metadata  # type: ignore[attr-defined]
        meta.namespace = self._namespace_of(info, meta.namespace)
        self._check_namespace(info, meta.namespace, creating_namespaces)
        if not meta.name and meta.generate_name:
            meta.name = self._generate_name(info, meta.namespace, meta.generate_name)
        new.api_version, new.kind = info.api_version, info.kind  # type: ignore[attr-defined]
        meta.uid = str(uuid.uuid4())
        meta.resource_version = ""
        meta.generation = 1
        meta.ClearField("deletion_timestamp")
        meta.ClearField("deletion_grace_period_seconds")
        self._stamp(meta.creation_timestamp)
        strategy.prepare_for_create(new)
        strategy.default(new)
        self.admission.mutate(info, new, self.cache.items)
        self._validate(strategy, new)
        self.admission.admit(info, "create", None, new)
        self._record_manager(info, new, None, manager)
        key = object_key(info, meta.namespace, meta.name)
        if self.cache.get(info.kind, key) is not None:
            raise errors.AlreadyExists(f'{group_resource(info)} {go_quote(meta.name)} already exists')
        return self._reserve(Write(info, key, new, None))

    def _generate_name(self, info: KindInfo, namespace: str, prefix: str) -> str:
        for _ in range(16):
            name = prefix + "".join(random.choices(NAME_SUFFIX_ALPHABET, k=5))
            if self.cache.get(info.kind, object_key(info, namespace, name)) is None:
                return name
        raise errors.AlreadyExists(f'could not generate a free name with prefix "{prefix}"')

    def create(self, obj: Message, dry_run: bool = False) -> Message:
        write = self._prepare_create(obj)
        if dry_run:
            self._abandon([write])
            return write.new  # type: ignore[return-value]
        return self._commit([write])[0]

    # --------------------------------------------------------------- update

    def _current(self, info: KindInfo, namespace: str, name: str) -> tuple[str, Message]:
        self._check_request_name(info, namespace, name)
        key = object_key(info, namespace, name)
        old = self.cache.get(info.kind, key)
        if old is None:
            raise self._not_found(info, name)
        return key, old

    def _check_revision(self, info: KindInfo, obj: Message, old: Message) -> None:
        meta, old_meta = obj.metadata, old.metadata  # type: ignore[attr-defined]
        if meta.resource_version and meta.resource_version != old_meta.resource_version:
            raise self._conflict(info, meta.name, "the object has been modified; please apply your changes "
                                 "to the latest version and try again")
        if meta.uid and meta.uid != old_meta.uid:
            raise self._conflict(info, meta.name, f"Precondition failed: UID in precondition: {meta.uid}, "
                                 f"UID in object meta: {old_meta.uid}")

    def _prepare_update(self, obj: Message, old: Message, key: str, verb: str = "update",
                        manager: str | None = None) -> Write | None:
        """The write an Update of old to obj makes (verb: "patch" for an Apply), or None
        when nothing changes; ``manager`` as for _prepare_create."""
        info = info_of(obj)
        strategy = self.strategies[info.kind]
        new = copy_message(obj)
        meta, old_meta = new.metadata, old.metadata  # type: ignore[attr-defined]
        new.api_version, new.kind = info.api_version, info.kind  # type: ignore[attr-defined]
        meta.namespace = old_meta.namespace
        meta.uid = old_meta.uid
        meta.generate_name = old_meta.generate_name
        meta.creation_timestamp.CopyFrom(old_meta.creation_timestamp)
        meta.ClearField("deletion_timestamp")
        meta.ClearField("deletion_grace_period_seconds")
        if old_meta.HasField("deletion_timestamp"):
            meta.deletion_timestamp.CopyFrom(old_meta.deletion_timestamp)
            meta.deletion_grace_period_seconds = old_meta.deletion_grace_period_seconds
        meta.resource_version = old_meta.resource_version
        strategy.prepare_for_update(new, old)
        strategy.default(new)
        meta.generation = old_meta.generation + (1 if strategy.spec_changed(new, old) else 0)
        self._validate(strategy, new, old)
        self.admission.admit(info, verb, old, new)
        self._record_manager(info, new, old, manager)
        if new == old and not self._stored_stale(key):
            return None
        return self._reserve(self._deletion_write(Write(info, key, new, old)))

    def _stored_stale(self, key: str) -> bool:
        """Whether the stored bytes are stale though the object is not: encrypted with a key that
        is no longer the write key (apiserver/storage/encryption.py). An update that changes
        nothing rewrites them, as Kubernetes' storage does: that is how keys are rotated."""
        is_stale = getattr(self.store, "is_stale", None)
        return bool(is_stale and is_stale(key))

    def _record_manager(self, info: KindInfo, new: Message, old: Message | None, manager: str | None,
                        subresource: str = "") -> None:
        """Kubernetes' update manager: an object sent without managedFields keeps the stored
        ones, and the request's manager takes ownership of the fields it changed (the other
        managers lose them; everyone loses the fields it removed)."""
        meta = new.metadata  # type: ignore[attr-defined]
        if old is not None and not meta.managed_fields:
            meta.managed_fields.extend(old.metadata.managed_fields)  # type: ignore[attr-defined]
        manager = MANAGER.get() if manager is None else manager
        if not manager:
            return
        change = compare(old, new, subresource)
        if not (change.added or change.modified or change.removed):
            return
        managed = Managed.of(meta)
        key = ManagerKey(manager, UPDATE, info.api_version, subresource)
        record_update(managed, key, change)
        managed.write(meta, key, info.api_version, self._stamp)

    def update(self, obj: Message, dry_run: bool = False) -> Message:
        info = info_of(obj)
        namespace = self._namespace_of(info, obj.metadata.namespace)  # type: ignore[attr-defined]
        key, old = self._current(info, namespace, obj.metadata.name)  # type: ignore[attr-defined]
        self._check_revision(info, obj, old)
        write = self._prepare_update(obj, old, key)
        if write is None or dry_run:
            self._abandon([write])
            return old if write is None else (write.new or write.old)  # type: ignore[return-value]
        return self._commit([write])[0]

    def update_status(self, obj: Message, dry_run: bool = False) -> Message:
        """Write obj's status over the stored object. Unlike Kubernetes, no Update entry is
        recorded for the status subresource: the kubelets write status all the time, and the
        comparison and re-encoding would double the cost of each write (measured: 44 -> 100 us
        for a Pod), for bookkeeping no apply of the main resource reads."""
        info = info_of(obj)
        strategy = self.strategies[info.kind]
        namespace = self._namespace_of(info, obj.metadata.namespace)  # type: ignore[attr-defined]
        key, old = self._current(info, namespace, obj.metadata.name)  # type: ignore[attr-defined]
        self._check_revision(info, obj, old)
        if not strategy.has_status:
            raise errors.BadRequest(f"{group_resource(info)} have no status")
        new = strategy.prepare_for_status_update(obj, old)
        self.admission.admit(info, "update", old, new, "status")
        if new == old:
            return old
        self._validate(strategy, new, old)  # status has rules too (Node capacity quantities)
        return new if dry_run else self._commit([Write(info, key, new, old)])[0]

    # ----------------------------------------------------------------- bind

    def bind(self, namespace: str, name: str, node_name: str, uid: str = "") -> Message:
        info = kind_info("Pod")
        key, old = self._current(info, self._namespace_of(info, namespace), name)
        pod: core_pb2.Pod = old  # type: ignore[assignment]
        self.admission.admit(info, "create", old, None, "binding")
        if uid and uid != pod.metadata.uid:
            raise self._conflict(info, name, f"Precondition failed: UID in precondition: {uid}, "
                                 f"UID in object meta: {pod.metadata.uid}")
        if pod.spec.node_name:
            raise errors.Conflict(f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is '
                                  f'already assigned to node "{pod.spec.node_name}"')
        if pod.metadata.HasField("deletion_timestamp"):
            raise errors.Conflict(f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is '
                                  "being deleted, cannot be assigned to a host")
        errs = v.dns1123_subdomain("target.name", node_name) if node_name else [v.required("target.name")]
        if errs:
            raise self._invalid(kind_info("Pod"), name, errs)
        new: core_pb2.Pod = copy_message(pod)  # type: ignore[assignment]
        new.spec.node_name = node_name
        scheduled = next((c for c in new.status.conditions if c.type == "PodScheduled"), None)
        if scheduled is None:
            scheduled = new.status.conditions.add(type="PodScheduled")
        scheduled.status = "True"
        scheduled.ClearField("reason")
        scheduled.ClearField("message")
        self._stamp(scheduled.last_transition_time)
        return self._commit([Write(info, key, new, old)])[0]
