"""The kubelet's watch-based cache of the ConfigMaps and Secrets its Pods refer to
(Kubernetes' kubelet with ``configMapAndSecretChangeDetectionStrategy: Watch``:
pkg/kubelet/util/manager/watch_based_manager.go).

* ``register_pod(pod)``: for every (kind, name) the Pod refers to (apimachinery.pod_references)
  a reference is counted; the first reference to an object starts a watch on that one object
  (an informer: list + watch in the Pod's namespace with ``fieldSelector metadata.name=<name>``,
  which the Node authorizer allows for an object a Pod bound to the node refers to).
  ``unregister_pod(pod)`` drops the Pod's references; the watch of an object no Pod refers to
  any more is stopped. Registering a Pod again (an update) adds its new references before
  dropping the old ones, so a watch in use is never restarted.
* ``data(kind, namespace, name)`` (the pod workers' ConfigSource) answers from the cache, once
  the object's first list has come back (waiting at most ``sync_timeout``, as Kubernetes'
  GetObject polls for a second: then ``failed to sync configmap cache: ...``); None when the
  object does not exist. An object nobody registered is read with a ``get`` (hollow nodes, a
  Pod being torn down).
* A change of an object's data after that first list (created, changed, deleted) calls
  ``on_change(pod_uid)`` for every Pod that refers to it: the kubelet wakes those Pods'
  workers, which rewrite their configMap/secret/projected volumes at once (atomic_writer's
  symlink swap). Env vars of running containers are not changed, as in Kubernetes.
* An object marked ``immutable`` cannot change: its watch is stopped and the cached copy kept
  (as Kubernetes does).

The watch is client.informer.Informer's: it rewatches from the last resourceVersion after a
broken stream (an apiserver restart), and relists when that revision is too old, reporting
what changed meanwhile. Not done: Kubernetes' stopping of watches idle for a while (maxIdleTime)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable, Mapping

import structlog
from google.protobuf.message import Message

from apimachinery.pod_references import config_references
from client.api import AsyncAPI
from client.informer import Informer
from kubelet.config_source import APIConfigSource
from kubelet.envvars import data_of
from protos import core_pb2

log = structlog.get_logger("config-cache")

ObjectKey = tuple[str, str, str]  # (kind, namespace, name)
RESOURCE = {"ConfigMap": "configmap", "Secret": "secret"}


class CacheSyncError(RuntimeError):
    """The object's first list did not come back in time (apiserver away, or refused)."""


def pod_object_keys(pod: core_pb2.Pod) -> frozenset[ObjectKey]:
    namespace = pod.metadata.namespace
    return frozenset((kind, namespace, name) for kind, name in config_references(pod.spec))


@dataclass
class _Item:
    """One watched object: its informer, the task running it, the Pods referring to it."""
    informer: Informer
    pods: set[str] = field(default_factory=set)
    task: asyncio.Task | None = None
    data: dict[str, bytes] | None = None  # the object's data as last seen (None: absent)
    immutable: bool = False


class ConfigCache:
    def __init__(self, api: AsyncAPI, on_change: Callable[[str], None] = lambda uid: None,
                 sync_timeout: float = 1.0) -> None:
        self.api = api
        self.on_change = on_change
        self.sync_timeout = sync_timeout
        self.items: dict[ObjectKey, _Item] = {}
        self._pods: dict[str, frozenset[ObjectKey]] = {}  # pod uid -> what it refers to
        self._fallback = APIConfigSource(api)

    # ------------------------------------------------------------ references

    def register_pod(self, pod: core_pb2.Pod) -> None:
        uid = pod.metadata.uid
        new = pod_object_keys(pod)
        old = self._pods.get(uid, frozenset())
        for key in new - old:
            self._add_reference(key, uid)
        if new:
            self._pods[uid] = new
        else:
            self._pods.pop(uid, None)
        for key in old - new:
            self._delete_reference(key, uid)

    def unregister_pod(self, pod_uid: str) -> None:
        for key in self._pods.pop(pod_uid, frozenset()):
            self._delete_reference(key, pod_uid)

    def _add_reference(self, key: ObjectKey, uid: str) -> None:
        item = self.items.get(key)
        if item is None:
            kind, namespace, name = key
            informer = Informer(self.api, kind, namespace=namespace, field_selector=f"metadata.name={name}")
            item = self.items[key] = _Item(informer)
            informer.add_handler(lambda event, obj, old, key=key: self._on_event(key, event, obj))
            item.task = asyncio.get_running_loop().create_task(informer.run(), name=f"watch-{kind}-{namespace}/{name}")
        item.pods.add(uid)

    def _delete_reference(self, key: ObjectKey, uid: str) -> None:
        item = self.items.get(key)
        if item is None:
            return
        item.pods.discard(uid)
        if not item.pods:
            del self.items[key]
            self._stop(item)

    @staticmethod
    def _stop(item: _Item) -> None:
        if item.task is not None and not item.task.done():
            item.task.cancel()

    def watched(self) -> set[ObjectKey]:
        """The objects with a running watch."""
        return {key for key, item in self.items.items() if item.task is not None and not item.task.done()}

    def pods_of(self, key: ObjectKey) -> set[str]:
        item = self.items.get(key)
        return set(item.pods) if item else set()

    # ------------------------------------------------------------ changes

    def _on_event(self, key: ObjectKey, event: str, obj: Message) -> None:
        item = self.items.get(key)
        if item is None:
            return
        data = None if event == "DELETED" else data_of(obj)
        changed = data != item.data
        item.data = data
        if data is not None and getattr(obj, "immutable", False):
            item.immutable = True
            self._stop(item)  # it cannot change: no need to keep watching (Kubernetes does the same)
        if changed and item.informer.synced.is_set():  # not the first list: the Pods were synced with it
            log.info("referenced object changed", kind=key[0], namespace=key[1], name=key[2],
                     event_type=event, pods=len(item.pods))
            for uid in sorted(item.pods):
                self.on_change(uid)

    # ------------------------------------------------------------ reads

    async def data(self, kind: str, namespace: str, name: str) -> Mapping[str, bytes] | None:
        item = self.items.get((kind, namespace, name))
        if item is None:
            return await self._fallback.data(kind, namespace, name)
        if not item.informer.synced.is_set():
            try:
                await asyncio.wait_for(asyncio.shield(item.informer.synced.wait()), self.sync_timeout)
            except asyncio.TimeoutError:
                raise CacheSyncError(f"failed to sync {RESOURCE.get(kind, kind.lower())} cache: "
                                     "timed out waiting for the condition") from None
        obj = item.informer.get(f"{namespace}/{name}")
        return None if obj is None else data_of(obj)

    async def stop(self) -> None:
        items = list(self.items.values())
        self.items.clear()
        self._pods.clear()
        for item in items:
            self._stop(item)
        await asyncio.gather(*(i.task for i in items if i.task is not None), return_exceptions=True)
