"""The garbage collector: dependents follow their owners, the way the user asked.

Every Deployment, ReplicaSet, DaemonSet, StatefulSet, Pod, Service, EndpointSlice, Job and CronJob may carry
ownerReferences (an EndpointSlice names its Service). The collector keeps
a graph from its informers (owner uid -> dependents) and carries out the three
propagation policies of a delete, as Kubernetes' garbagecollector does:

* Background (the default): the apiserver removes the owner at once. Its dependents
  are then "dangling": every owner they name is gone, so the collector deletes them
  (and their own dependents follow the same way).
* Foreground: the apiserver only marks the owner (deletionTimestamp + finalizer
  "foregroundDeletion"). The collector deletes its dependents first; once none with
  blockOwnerDeletion is left, it removes the finalizer and the apiserver lets the
  owner go. `get` shows the owner until its Pods are really gone.
* Orphan: the owner is marked with finalizer "orphan". The collector removes the
  ownerReferences to it from its dependents, then the finalizer: the dependents stay.

The decisions are pure functions (classify_owners, decide_dependent,
decide_deleting_owner) unit-tested without processes. An owner missing from the
cache is confirmed missing with a live GET before anything is deleted: informers of
different kinds lag independently, and a Pod seen before its brand-new ReplicaSet
must not be collected."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import structlog
from google.protobuf.message import Message

from apimachinery.objects import is_deleting
from client.api import AsyncAPI, describe, is_conflict, is_not_found
from client.events import EventRecorder
from client.informer import Informer, SharedInformers, object_key
from controllers.base import Controller
from protos import meta_pb2

log = structlog.get_logger("garbage-collector")

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
# The kinds whose objects the collector watches (as dependents and as owners).
WATCHED_KINDS = ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Pod", "Service", "EndpointSlice", "Job",
                 "CronJob")


class OwnerState(enum.Enum):
    SOLID = "solid"  # exists and is not waiting for its dependents
    WAITING = "waiting"  # exists, being deleted in the foreground: its dependents must go first
    DANGLING = "dangling"  # gone (confirmed), or replaced by a namesake with another uid
    UNKNOWN = "unknown"  # not in the cache: must be confirmed by a live GET before acting


class Action(enum.Enum):
    NONE = "none"
    DELETE = "delete"
    REMOVE_REFS = "remove-refs"
    REMOVE_FINALIZER = "remove-finalizer"
    ORPHAN = "orphan"
    DELETE_DEPENDENTS = "delete-dependents"  # foreground: wait, and have the dependents deleted


@dataclass
class Decision:
    action: Action
    propagation: str = ""  # for DELETE: Background or Foreground
    refs: list[str] = field(default_factory=list)  # owner uids to remove (REMOVE_REFS)
    finalizer: str = ""  # for REMOVE_FINALIZER / ORPHAN
    dependents: list[Message] = field(default_factory=list)  # for ORPHAN / DELETE_DEPENDENTS


def item_key(kind: str, obj_or_key: Message | str) -> str:
    """The collector's queue key: "Kind/namespace/name"."""
    key = obj_or_key if isinstance(obj_or_key, str) else object_key(obj_or_key)
    return f"{kind}/{key}"


def split_item_key(key: str) -> tuple[str, str]:
    kind, _, rest = key.partition("/")
    return kind, rest


def state_of_owner(owner: Message | None) -> OwnerState:
    """How an owner found in the cache (or not) counts for its dependents."""
    if owner is None:
        return OwnerState.UNKNOWN
    if is_deleting(owner) and FOREGROUND_FINALIZER in owner.metadata.finalizers:  # type: ignore[attr-defined]
        return OwnerState.WAITING
    return OwnerState.SOLID


def classify_owners(refs: Iterable[meta_pb2.OwnerReference],
                    states: Mapping[str, OwnerState]) -> tuple[list[str], list[str], list[str]]:
    """(solid, dangling, waiting) owner uids; UNKNOWN counts as solid (never act on a guess)."""
    solid, dangling, waiting = [], [], []
    for ref in refs:
        state = states.get(ref.uid, OwnerState.UNKNOWN)
        if state == OwnerState.DANGLING:
            dangling.append(ref.uid)
        elif state == OwnerState.WAITING:
            waiting.append(ref.uid)
        else:
            solid.append(ref.uid)
    return solid, dangling, waiting


def decide_dependent(obj: Message, states: Mapping[str, OwnerState], has_dependents: bool) -> Decision:
    """What to do with an object that has owners (Kubernetes' attemptToDeleteItem).

    While any owner is solid the object stays (references to gone or waiting owners
    are removed). Otherwise every owner is gone or being deleted in the foreground,
    and the object is deleted: in the foreground when a waiting owner is above and it
    has dependents of its own, so the whole tree goes bottom-up; else in the background."""
    meta = obj.metadata  # type: ignore[attr-defined]
    if not meta.owner_references or is_deleting(obj):
        return Decision(Action.NONE)
    solid, dangling, waiting = classify_owners(meta.owner_references, states)
    if solid:
        gone = dangling + waiting
        return Decision(Action.REMOVE_REFS, refs=gone) if gone else Decision(Action.NONE)
    if waiting and has_dependents:
        return Decision(Action.DELETE, propagation="Foreground")
    return Decision(Action.DELETE, propagation="Background")


def blocking_dependents(owner: Message, dependents: Iterable[Message]) -> list[Message]:
    """Dependents whose reference to the owner has blockOwnerDeletion: true."""
    uid = owner.metadata.uid  # type: ignore[attr-defined]
    return [d for d in dependents
            if any(r.uid == uid and r.block_owner_deletion for r in d.metadata.owner_references)]  # type: ignore[attr-defined]


def decide_deleting_owner(owner: Message, dependents: list[Message]) -> Decision:
    """What to do for an owner marked for deletion with a propagation finalizer.

    `dependents` are the objects whose ownerReferences name the owner's uid."""
    meta = owner.metadata  # type: ignore[attr-defined]
    if not is_deleting(owner):
        return Decision(Action.NONE)
    if ORPHAN_FINALIZER in meta.finalizers:
        if dependents:
            return Decision(Action.ORPHAN, finalizer=ORPHAN_FINALIZER, dependents=list(dependents))
        return Decision(Action.REMOVE_FINALIZER, finalizer=ORPHAN_FINALIZER)
    if FOREGROUND_FINALIZER in meta.finalizers:
        blocking = blocking_dependents(owner, dependents)
        if blocking:
            pending = [d for d in dependents if not is_deleting(d)]
            return Decision(Action.DELETE_DEPENDENTS, dependents=pending)
        return Decision(Action.REMOVE_FINALIZER, finalizer=FOREGROUND_FINALIZER)
    return Decision(Action.NONE)


def without_owner_refs(obj: Message, uids: Iterable[str]) -> Message:
    gone = set(uids)
    new = type(obj)()
    new.CopyFrom(obj)
    keep = [r for r in obj.metadata.owner_references if r.uid not in gone]  # type: ignore[attr-defined]
    del new.metadata.owner_references[:]  # type: ignore[attr-defined]
    new.metadata.owner_references.extend(keep)  # type: ignore[attr-defined]
    return new


def without_finalizer(obj: Message, finalizer: str) -> Message:
    new = type(obj)()
    new.CopyFrom(obj)
    keep = [f for f in obj.metadata.finalizers if f != finalizer]  # type: ignore[attr-defined]
    del new.metadata.finalizers[:]  # type: ignore[attr-defined]
    new.metadata.finalizers.extend(keep)  # type: ignore[attr-defined]
    return new


# ------------------------------------------------------------------ the controller

class GarbageCollector(Controller):
    name = "garbage-collector"

    def __init__(self, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder,
                 kinds: Iterable[str] = WATCHED_KINDS) -> None:
        super().__init__(api, informers, recorder)
        self.kinds = tuple(kinds)
        self.sources: dict[str, Informer] = {}
        self.uids: dict[str, str] = {}  # uid -> item key of a live object
        self.dependents: dict[str, set[str]] = {}  # owner uid -> item keys of its dependents
        self.owners: dict[str, set[str]] = {}  # item key -> owner uids it names
        for kind in self.kinds:
            informer = informers.get(kind)
            self.sources[kind] = informer
            informer.add_handler(self._handler(kind))
            for obj in informer.items():  # an informer that already runs: index what it has
                self._index(item_key(kind, obj), obj)

    # -------------------------------------------------------------- the graph

    def _index(self, key: str, obj: Message | None, old: Message | None = None) -> None:
        if old is not None and old.metadata.uid in self.uids and self.uids[old.metadata.uid] == key:  # type: ignore[attr-defined]
            del self.uids[old.metadata.uid]  # type: ignore[attr-defined]
        for uid in self.owners.pop(key, set()):
            deps = self.dependents.get(uid)
            if deps is not None:
                deps.discard(key)
                if not deps:
                    del self.dependents[uid]
        if obj is None:
            return
        meta = obj.metadata  # type: ignore[attr-defined]
        self.uids[meta.uid] = key
        uids = {r.uid for r in meta.owner_references}
        if uids:
            self.owners[key] = uids
            for uid in uids:
                self.dependents.setdefault(uid, set()).add(key)

    def lookup(self, key: str) -> Message | None:
        kind, rest = split_item_key(key)
        informer = self.sources.get(kind)
        return informer.get(rest) if informer is not None else None

    def dependents_of(self, uid: str) -> list[Message]:
        found = []
        for key in sorted(self.dependents.get(uid, ())):
            obj = self.lookup(key)
            if obj is not None and any(r.uid == uid for r in obj.metadata.owner_references):  # type: ignore[attr-defined]
                found.append(obj)
        return found

    def _handler(self, kind: str):
        def handle(event: str, obj: Message, old: Message | None) -> None:
            key = item_key(kind, obj)
            before = set(self.owners.get(key, set()))
            if event == "DELETED":
                self._index(key, None, old or obj)
                uid = obj.metadata.uid  # type: ignore[attr-defined]
                for dep in self.dependents.get(uid, set()):
                    self.queue.add(dep)  # their owner is gone: maybe they are garbage now
                for owner_uid in before:  # a foreground owner may be waiting for this one
                    self._enqueue_uid(owner_uid)
                return
            if old is not None and old.metadata.uid != obj.metadata.uid:  # type: ignore[attr-defined]
                self._index(key, None, old)  # replaced by a namesake
            self._index(key, obj)
            meta = obj.metadata  # type: ignore[attr-defined]
            after = self.owners.get(key, set())
            # Pod status changes are frequent and change nothing here: look again only
            # when the references are new or changed, or name an owner not in the graph.
            if after and (event == "ADDED" or before != after or any(u not in self.uids for u in after)):
                self.queue.add(key)
            if is_deleting(obj) and (ORPHAN_FINALIZER in meta.finalizers or FOREGROUND_FINALIZER in meta.finalizers):
                self.queue.add(key)
                if FOREGROUND_FINALIZER in meta.finalizers:
                    for dep in self.dependents.get(meta.uid, set()):
                        self.queue.add(dep)
            for owner_uid in before - after:  # released or orphaned: its old owner may be done
                self._enqueue_uid(owner_uid)
            if is_deleting(obj):  # a dependent going: a waiting owner counts its dependents again
                for owner_uid in after:
                    self._enqueue_uid(owner_uid)
        return handle

    def _enqueue_uid(self, uid: str) -> None:
        key = self.uids.get(uid)
        if key is not None:
            self.queue.add(key)

    # -------------------------------------------------------------- reconcile

    async def reconcile(self, key: str) -> None:
        obj = self.lookup(key)
        if obj is None:
            return
        meta = obj.metadata  # type: ignore[attr-defined]
        if is_deleting(obj) and (ORPHAN_FINALIZER in meta.finalizers or FOREGROUND_FINALIZER in meta.finalizers):
            await self._process_deleting_owner(key, obj)
            return
        if meta.owner_references:
            await self._process_dependent(key, obj)

    async def owner_states(self, obj: Message) -> dict[str, OwnerState]:
        """Each owner's state; owners missing from the cache are looked up live."""
        meta = obj.metadata  # type: ignore[attr-defined]
        states: dict[str, OwnerState] = {}
        for ref in meta.owner_references:
            owner_key = self.uids.get(ref.uid)
            state = state_of_owner(self.lookup(owner_key) if owner_key else None)
            if state == OwnerState.UNKNOWN and ref.kind in self.kinds:
                state = await self._live_state(ref, meta.namespace)
            states[ref.uid] = state  # an unwatched kind stays UNKNOWN: treated as solid
        return states

    async def _live_state(self, ref: meta_pb2.OwnerReference, namespace: str) -> OwnerState:
        try:
            owner = await self.api.get(ref.kind, ref.name, namespace)
        except Exception as err:
            if is_not_found(err):
                return OwnerState.DANGLING
            raise
        if owner.metadata.uid != ref.uid:  # type: ignore[attr-defined]
            return OwnerState.DANGLING
        return state_of_owner(owner)

    async def _process_dependent(self, key: str, obj: Message) -> None:
        if is_deleting(obj):
            return
        states = await self.owner_states(obj)
        decision = decide_dependent(obj, states, bool(self.dependents.get(obj.metadata.uid)))  # type: ignore[attr-defined]
        kind, _ = split_item_key(key)
        meta = obj.metadata  # type: ignore[attr-defined]
        if decision.action == Action.REMOVE_REFS:
            # A compare-and-swap on the cached copy: a conflict retries from a fresher cache.
            await self._update_ignoring_gone(without_owner_refs(obj, decision.refs))
            log.info("removed references to gone owners", kind=kind, name=meta.name, namespace=meta.namespace,
                     owners=decision.refs)
        elif decision.action == Action.DELETE:
            await self._delete(kind, obj, decision.propagation)

    async def _delete(self, kind: str, obj: Message, propagation: str) -> None:
        meta = obj.metadata  # type: ignore[attr-defined]
        try:
            await self.api.delete(kind, meta.name, meta.namespace, uid=meta.uid, propagation_policy=propagation)
        except Exception as err:
            if is_not_found(err) or (is_conflict(err) and "UID" in describe(err)):
                return  # already gone, or a new object with the same name
            raise
        log.info("deleting dependent", kind=kind, name=meta.name, namespace=meta.namespace,
                 propagation=propagation)

    async def _update_ignoring_gone(self, obj: Message) -> None:
        try:
            await self.api.update(obj)
        except Exception as err:
            if not is_not_found(err):
                raise

    async def _process_deleting_owner(self, key: str, owner: Message) -> None:
        meta = owner.metadata  # type: ignore[attr-defined]
        decision = decide_deleting_owner(owner, self.dependents_of(meta.uid))
        kind, _ = split_item_key(key)
        if decision.action == Action.ORPHAN:
            results = await asyncio.gather(
                *(self._update_ignoring_gone(without_owner_refs(d, [meta.uid])) for d in decision.dependents),
                return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                raise failures[0]
            log.info("orphaned dependents", kind=kind, name=meta.name, namespace=meta.namespace,
                     dependents=len(decision.dependents))
            await self._update_ignoring_gone(without_finalizer(owner, ORPHAN_FINALIZER))
        elif decision.action == Action.REMOVE_FINALIZER:
            await self._update_ignoring_gone(without_finalizer(owner, decision.finalizer))
            log.info("removed finalizer", kind=kind, name=meta.name, namespace=meta.namespace,
                     finalizer=decision.finalizer)
        elif decision.action == Action.DELETE_DEPENDENTS:
            # Each dependent decides for itself (it may have another, solid owner).
            for dep in decision.dependents:
                self._enqueue_uid(dep.metadata.uid)  # type: ignore[attr-defined]
