"""The registry's core, shared by its verbs: naming a resource in messages, the checks every
request makes (kind, name, namespace, validation), and the write path every change takes:
plan a ``Write``, let the strategy reserve what it holds, commit to the store, then to the
watch cache (and so to watchers), then let a Terminating Namespace whose last object went go.

Every request runs on the server's single event-loop thread without awaiting, so a
read-check-write (such as compare-and-swap on resourceVersion) is atomic with respect to
other requests. A write is committed to the store first and only then applied to the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from google.protobuf.message import Message

from apimachinery.kinds import KindInfo, UnknownKindError, kind_info, wrap
from apimachinery.names import go_quote, is_valid_path_segment_name
from apiserver import errors
from apiserver.registry.admission import Admission
from apiserver.registry.base import Strategy
from apiserver.storage import (MUST_NOT_EXIST, Change, KeyExistsError,
                               KeyNotFoundError, RevisionMismatchError, Store)
from apiserver.watchcache import ADDED, DELETED, MODIFIED, Change as CacheChange, WatchCache

# etcd's default request limit: the largest object the store accepts.
MAX_OBJECT_BYTES = 1536 * 1024


def group_resource(info: KindInfo) -> str:
    """"deployments.apps", "pods": how Kubernetes names a resource in messages."""
    group = info.api_version.rpartition("/")[0]
    return f"{info.plural}.{group}" if group else info.plural


def group_kind(info: KindInfo) -> str:
    group = info.api_version.rpartition("/")[0]
    return f"{info.kind}.{group}" if group else info.kind


def object_key(info: KindInfo, namespace: str, name: str) -> str:
    return f"/{info.kind}/{namespace}/{name}"


def copy_message(obj: Message) -> Message:
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



class RegistryCore:
    """What every verb of the Registry (registry.py) stands on; the Registry sets these."""

    store: Store
    cache: WatchCache
    clock: Callable[[], float]
    max_object_bytes: int
    admission: Admission  # checks on who writes what (admission.py)
    strategies: dict[str, Strategy]

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
        return errors.Invalid(f'{group_kind(info)} {go_quote(name)} is invalid: {listed}', tuple(errs))

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

    # -------------------------------------------------------------- commit

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
            obj = copy_message(w.new if w.new is not None else w.old)  # type: ignore[arg-type]
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
