"""The apiserver's request logic, independent of gRPC: create, get, list, update,
update-status, delete, apply and bind, over the watch cache and the durable store.

Every request runs on the server's single event-loop thread without awaiting, so a
read-check-write (such as compare-and-swap on resourceVersion) is atomic with
respect to other requests. A write is committed to the store first and only then
applied to the cache and fanned out to watchers.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Sequence

from google.protobuf.message import Message

from apimachinery.convert import ConversionError, message_from_dict, to_dict
from apimachinery.kinds import KindInfo, UnknownKindError, info_of, kind_info, wrap
from apimachinery.names import go_quote, is_valid_path_segment_name
from apimachinery.selectors import FieldSelector, LabelSelector, SelectorError
from apiserver import errors
from apiserver.registry import validation as v
from apiserver.registry.admission import Admission
from apiserver.registry.apply import LAST_APPLIED, last_applied_json, three_way_merge
from apiserver.registry.base import Strategy
from apiserver.registry.cluster import (SYSTEM_NAMESPACES, EventStrategy, LeaseStrategy,
                                        NamespaceStrategy, NodeStrategy)
from apiserver.registry.network import EndpointSliceStrategy, ServiceRanges, ServiceStrategy
from apiserver.registry.pod import PodStrategy
from apiserver.registry.rbac import STRATEGIES as RBAC_STRATEGIES
from apiserver.registry.workloads import DeploymentStrategy, ReplicaSetStrategy
from apiserver.storage import (MUST_NOT_EXIST, Change, KeyExistsError,
                               KeyNotFoundError, RevisionMismatchError, Store)
from apiserver.watchcache import ADDED, DELETED, MODIFIED, Change as CacheChange, WatchCache
from protos import api_pb2, core_pb2

# etcd's default request limit: the largest object the store accepts.
MAX_OBJECT_BYTES = 1536 * 1024
# Characters Kubernetes uses for generated name suffixes (no vowels, no look-alikes).
NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")


def group_resource(info: KindInfo) -> str:
    """"deployments.apps", "pods": how Kubernetes names a resource in messages."""
    group = info.api_version.rpartition("/")[0]
    return f"{info.plural}.{group}" if group else info.plural


def group_kind(info: KindInfo) -> str:
    group = info.api_version.rpartition("/")[0]
    return f"{info.kind}.{group}" if group else info.kind


def object_key(info: KindInfo, namespace: str, name: str) -> str:
    return f"/{info.kind}/{namespace}/{name}"


def _copy(obj: Message) -> Message:
    clone = type(obj)()
    clone.CopyFrom(obj)
    return clone


@dataclass
class Write:
    """One object write planned by a request: new None deletes."""

    info: KindInfo
    key: str
    new: Message | None
    old: Message | None


class Registry:
    def __init__(self, store: Store, cache: WatchCache, clock: Callable[[], float] = time.time,
                 max_object_bytes: int = MAX_OBJECT_BYTES, service_ranges: ServiceRanges = ServiceRanges()) -> None:
        self.store = store
        self.cache = cache
        self.clock = clock
        self.max_object_bytes = max_object_bytes
        # Checks on who writes what (admission.py); the apiserver gives it its authorizer.
        self.admission = Admission()
        self.strategies: dict[str, Strategy] = {
            s.kind: s for s in (PodStrategy(), NodeStrategy(), NamespaceStrategy(), EventStrategy(),
                                DeploymentStrategy(), ReplicaSetStrategy(), LeaseStrategy(),
                                ServiceStrategy(service_ranges), EndpointSliceStrategy(),
                                *(strategy() for strategy in RBAC_STRATEGIES))
        }
        items, revision = store.load()
        loaded = []
        for item in items:
            wrapped = api_pb2.Object.FromString(item.value)
            obj = getattr(wrapped, wrapped.WhichOneof("kind"))
            obj.metadata.resource_version = str(item.revision)
            loaded.append((info_of(obj).kind, item.key, obj))
        cache.reset(loaded, revision)
        for kind, _, obj in loaded:  # what stored objects hold (ClusterIPs, NodePorts), held again
            self.strategies[kind].restore(obj)
        for name in SYSTEM_NAMESPACES:
            if self.cache.get("Namespace", object_key(kind_info("Namespace"), "", name)) is None:
                self.create(core_pb2.Namespace(metadata={"name": name}))

    # ------------------------------------------------------------- helpers

    def _info(self, kind: str) -> KindInfo:
        try:
            return kind_info(kind)
        except UnknownKindError as err:
            raise errors.NotFound(str(err)) from None

    def _namespace_of(self, info: KindInfo, namespace: str) -> str:
        return (namespace or "default") if info.namespaced else ""

    def _check_request_name(self, info: KindInfo, namespace: str, name: str) -> None:
        """A request naming an object: Kubernetes' key-function checks (a name cannot be
        empty, ``..`` or hold ``/``), so no request addresses a key outside its place."""
        if not name:
            raise errors.BadRequest("Name parameter required.")
        if msgs := is_valid_path_segment_name(name):
            raise errors.BadRequest(f"Name parameter invalid: {go_quote(name)}: {';'.join(msgs)}")
        if info.namespaced and (msgs := is_valid_path_segment_name(namespace)):
            raise errors.BadRequest(f"Namespace parameter invalid: {go_quote(namespace)}: {';'.join(msgs)}")

    def _now(self) -> float:
        return self.clock()

    def _stamp(self, ts, seconds_from_now: float = 0) -> None:
        """Set a Timestamp to now (+ an offset), in whole seconds as Kubernetes' metav1.Time."""
        ts.seconds = int(self._now() + seconds_from_now)
        ts.nanos = 0

    def _not_found(self, info: KindInfo, name: str) -> errors.NotFound:
        return errors.NotFound(f'{group_resource(info)} {go_quote(name)} not found')

    def _conflict(self, info: KindInfo, name: str, why: str) -> errors.Conflict:
        return errors.Conflict(f'Operation cannot be fulfilled on {group_resource(info)} {go_quote(name)}: {why}')

    def _invalid(self, info: KindInfo, name: str, errs: Sequence[object]) -> errors.Invalid:
        listed = str(errs[0]) if len(errs) == 1 else "[" + ", ".join(str(e) for e in errs) + "]"
        return errors.Invalid(f'{group_kind(info)} {go_quote(name)} is invalid: {listed}')

    def _validate(self, strategy: Strategy, obj: Message, old: Message | None = None) -> None:
        errs = strategy.validate_metadata(obj.metadata) + strategy.validate(obj)  # type: ignore[attr-defined]
        if old is not None:
            errs += strategy.validate_update(obj, old)
        if errs:
            raise self._invalid(strategy.info, obj.metadata.name, errs)  # type: ignore[attr-defined]

    def _check_namespace(self, info: KindInfo, namespace: str, creating_namespaces: set[str]) -> None:
        if not info.namespaced or namespace in creating_namespaces:
            return
        ns = self.cache.get("Namespace", object_key(kind_info("Namespace"), "", namespace))
        if ns is None:
            raise errors.NotFound(f'namespaces {go_quote(namespace)} not found')
        if ns.metadata.HasField("deletion_timestamp"):  # type: ignore[attr-defined]
            raise errors.Forbidden(
                f"unable to create new content in namespace {namespace} because it is being terminated")

    def _reserve(self, write: Write) -> Write:
        """Let the strategy take what the planned object holds (a Service's ClusterIP)."""
        if write.new is not None:
            errs = self.strategies[write.info.kind].reserve(write.new, write.old)
            if errs:
                raise self._invalid(write.info, write.new.metadata.name, errs)  # type: ignore[attr-defined]
        return write

    def _abandon(self, writes: Sequence[Write | None]) -> None:
        """Planned writes that will not be committed give back what they reserved."""
        for w in writes:
            if w is not None:
                self.strategies[w.info.kind].release(w.old, w.new)

    def _commit(self, writes: Sequence[Write]) -> list[Message]:
        """Write atomically to the store, then to the cache (and so to watchers); the
        strategies release what the old objects held and the new ones do not.

        Returns each written object as stored, stamped with its new resourceVersion
        (for a delete: the last state, stamped with the deletion's revision)."""
        try:
            stamped, revisions = self._store_commit(writes)
        except BaseException:
            self._abandon(writes)
            raise
        for w in writes:
            self.strategies[w.info.kind].release(w.new, w.old)
        for w, obj, revision in zip(writes, stamped, revisions):
            kind = ADDED if w.old is None else (DELETED if w.new is None else MODIFIED)
            self.cache.apply(CacheChange(kind, w.info.kind, w.key, revision, obj, w.old))
        self._finish_terminating_namespaces(writes)
        return stamped

    def _store_commit(self, writes: Sequence[Write]) -> tuple[list[Message], list[int]]:
        base = self.cache.revision  # the apiserver is the store's only writer: same value, no query
        changes, stamped = [], []
        for i, w in enumerate(writes):
            revision = base + 1 + i
            obj = _copy(w.new if w.new is not None else w.old)  # type: ignore[arg-type]
            obj.metadata.resource_version = str(revision)  # type: ignore[attr-defined]
            expected = MUST_NOT_EXIST if w.old is None else int(w.old.metadata.resource_version)  # type: ignore[attr-defined]
            value = None
            if w.new is not None:
                value = wrap(obj).SerializeToString()
                if len(value) > self.max_object_bytes:
                    raise errors.TooLarge(
                        f"request entity too large: {group_resource(w.info)} {go_quote(obj.metadata.name)} is "  # type: ignore[attr-defined]
                        f"{len(value)} bytes, the limit is {self.max_object_bytes}")
            changes.append(Change(w.key, value, expected))
            stamped.append(obj)
        try:
            revisions = self.store.commit(changes)
        except KeyExistsError as err:
            raise errors.AlreadyExists(str(err)) from None
        except KeyNotFoundError as err:
            raise errors.NotFound(str(err)) from None
        except RevisionMismatchError as err:
            raise errors.Conflict(str(err)) from None
        assert revisions == [base + 1 + i for i in range(len(writes))], (revisions, base)
        return stamped, revisions

    # ---------------------------------------------------------------- reads

    def get(self, kind: str, namespace: str, name: str) -> Message:
        info = self._info(kind)
        self._check_request_name(info, namespace, name)
        obj = self.cache.get(kind, object_key(info, self._namespace_of(info, namespace), name))
        if obj is None:
            raise self._not_found(info, name)
        return obj

    def exists(self, kind: str, namespace: str, name: str) -> bool:
        """Whether the object is stored (an unknown kind is not); for authorizing an Apply."""
        try:
            info = kind_info(kind)
        except UnknownKindError:
            return False
        return self.cache.get(kind, object_key(info, self._namespace_of(info, namespace), name)) is not None

    def list(self, kind: str, namespace: str = "", label_selector: str = "",
             field_selector: str = "") -> tuple[list[Message], int]:
        info = self._info(kind)
        try:
            labels = LabelSelector.parse(label_selector)
            fields = FieldSelector.parse(field_selector, kind)
        except SelectorError as err:
            raise errors.BadRequest(str(err)) from None
        items = [
            obj for obj in self.cache.items(kind)
            if (not namespace or not info.namespaced or obj.metadata.namespace == namespace)  # type: ignore[attr-defined]
            and (labels.empty or labels.matches(obj.metadata.labels))  # type: ignore[attr-defined]
            and (fields.empty or fields.matches(obj))
        ]
        items.sort(key=lambda o: (o.metadata.namespace, o.metadata.name))  # type: ignore[attr-defined]
        return items, self.cache.revision

    # --------------------------------------------------------------- create

    def _prepare_create(self, obj: Message, creating_namespaces: set[str] = frozenset()) -> Write:  # type: ignore[assignment]
        info = info_of(obj)
        strategy = self.strategies[info.kind]
        new = _copy(obj)
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
        self._validate(strategy, new)
        self.admission.admit(info, "create", None, new)
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

    def _prepare_update(self, obj: Message, old: Message, key: str, verb: str = "update") -> Write | None:
        """The write an Update of old to obj makes (verb: "patch" for an Apply), or None
        when nothing changes."""
        info = info_of(obj)
        strategy = self.strategies[info.kind]
        new = _copy(obj)
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
        if new == old:
            return None
        return self._reserve(self._deletion_write(Write(info, key, new, old)))

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

    # --------------------------------------------------------------- delete

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
        new = _copy(old)
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

    def _finish_terminating_namespaces(self, writes: Sequence[Write]) -> None:
        """Remove a Terminating Namespace once its last object is gone."""
        ns_info = kind_info("Namespace")
        for w in writes:
            if w.new is not None or not w.info.namespaced:
                continue
            namespace = w.old.metadata.namespace  # type: ignore[union-attr]
            ns_key = object_key(ns_info, "", namespace)
            ns = self.cache.get("Namespace", ns_key)
            if (ns is not None and ns.metadata.HasField("deletion_timestamp")  # type: ignore[attr-defined]
                    and self.cache.namespace_counts[namespace] == 0 and not ns.metadata.finalizers):  # type: ignore[attr-defined]
                self._commit([Write(ns_info, ns_key, None, ns)])

    # ---------------------------------------------------------------- apply

    def apply(self, objects: Sequence[Message], dry_run: bool = False) -> list[tuple[Message, str]]:
        """Create or update each object from its manifest; all are checked before any is written."""
        creating_namespaces = {o.metadata.name for o in objects if isinstance(o, core_pb2.Namespace)}
        planned: list[tuple[Write | None, Message, str]] = []
        try:
            self._plan_apply(objects, creating_namespaces, planned)
        except BaseException:
            self._abandon([w for w, _, _ in planned])
            raise
        if dry_run:
            self._abandon([w for w, _, _ in planned])
            return [(obj, action) for _, obj, action in planned]
        # Namespaces are written first, so watchers never see an object before its namespace.
        writes = sorted((w for w, _, _ in planned if w is not None), key=lambda w: w.info.kind != "Namespace")
        stored = dict(zip((id(w) for w in writes), self._commit(writes))) if writes else {}
        return [(stored[id(w)] if w is not None else obj, action) for w, obj, action in planned]

    def _plan_apply(self, objects: Sequence[Message], creating_namespaces: set[str],
                    planned: list[tuple[Write | None, Message, str]]) -> None:
        """Plan each object's write into planned (so a refusal can abandon those before it)."""
        seen: set[str] = set()
        for obj in objects:
            info = info_of(obj)
            manifest = to_dict(obj)
            namespace = self._namespace_of(info, obj.metadata.namespace)  # type: ignore[attr-defined]
            key = object_key(info, namespace, obj.metadata.name)  # type: ignore[attr-defined]
            if not obj.metadata.name:  # type: ignore[attr-defined]
                raise self._invalid(info, "", ["metadata.name: Required value: name is required for apply"])
            if key in seen:
                raise errors.BadRequest(f"{group_resource(info)} {go_quote(obj.metadata.name)} "  # type: ignore[attr-defined]
                                        "appears twice in one apply")
            seen.add(key)
            annotated = _copy(obj)
            annotated.metadata.annotations[LAST_APPLIED] = last_applied_json(manifest)  # type: ignore[attr-defined]
            old = self.cache.get(info.kind, key)
            if old is None:
                write = self._prepare_create(annotated, creating_namespaces)
                planned.append((write, write.new, "created"))  # type: ignore[arg-type]
                continue
            self._check_revision(info, obj, old)
            merged = self._merge(info, old, manifest, annotated)
            write = self._prepare_update(merged, old, key, "patch")
            planned.append((write, old if write is None else (write.new or old),
                            "unchanged" if write is None else "configured"))

    def _merge(self, info: KindInfo, current: Message, manifest: dict, annotated: Message) -> Message:
        """Three-way merge of last-applied, the new manifest and the live object."""
        original_text = current.metadata.annotations.get(LAST_APPLIED, "")  # type: ignore[attr-defined]
        original = json.loads(original_text) if original_text else {}
        modified = to_dict(annotated)
        live = to_dict(current)
        live.pop("status", None)
        merged = three_way_merge(original, modified, live)
        try:
            return message_from_dict(merged, info.message, info.kind)
        except ConversionError as err:
            raise self._invalid(info, current.metadata.name, [str(err)]) from None  # type: ignore[attr-defined]

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
        new: core_pb2.Pod = _copy(pod)  # type: ignore[assignment]
        new.spec.node_name = node_name
        scheduled = next((c for c in new.status.conditions if c.type == "PodScheduled"), None)
        if scheduled is None:
            scheduled = new.status.conditions.add(type="PodScheduled")
        scheduled.status = "True"
        scheduled.ClearField("reason")
        scheduled.ClearField("message")
        self._stamp(scheduled.last_transition_time)
        return self._commit([Write(info, key, new, old)])[0]
