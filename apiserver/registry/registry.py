"""The apiserver's request logic, independent of gRPC: create, get, list, update,
update-status, delete, apply and bind, over the watch cache and the durable store.

The Registry is built in layers, one module each (a class each, every layer the next one's
base): core.py (checks and the write path every change takes), deletion.py, writes.py
(create, update, update-status, bind), apply.py (kubectl's three-way merge),
server_side_apply.py (managed fields, KEP-555); this module adds loading the store and the
reads. managed_fields.py holds the field sets the writes record.

Every request runs on the server's single event-loop thread without awaiting, so a
read-check-write (such as compare-and-swap on resourceVersion) is atomic with
respect to other requests. A write is committed to the store first and only then
applied to the cache and fanned out to watchers.
"""

from __future__ import annotations

import time
from typing import Callable

from google.protobuf.message import Message

from apimachinery.kinds import UnknownKindError, info_of, kind_info
from apimachinery.selectors import FieldSelector, LabelSelector, SelectorError
from apiserver import errors
from apiserver.registry.admission import Admission
from apiserver.registry.base import Strategy
from apiserver.registry.batch import STRATEGIES as BATCH_STRATEGIES
from apiserver.registry.cluster import (SYSTEM_NAMESPACES, EventStrategy, LeaseStrategy,
                                        NamespaceStrategy, NodeStrategy)
from apiserver.registry.config import STRATEGIES as CONFIG_STRATEGIES
from apiserver.registry.core import MAX_OBJECT_BYTES, Write, group_kind, group_resource, object_key
from apiserver.registry.network import EndpointSliceStrategy, ServiceRanges, ServiceStrategy
from apiserver.registry.pod import PodStrategy
from apiserver.registry.rbac import STRATEGIES as RBAC_STRATEGIES
from apiserver.registry.server_side_apply import ServerSideApply
from apiserver.registry.sets import DaemonSetStrategy, StatefulSetStrategy
from apiserver.registry.storage import STRATEGIES as STORAGE_STRATEGIES
from apiserver.registry.workloads import DeploymentStrategy, ReplicaSetStrategy
from apiserver.storage import Store
from apiserver.watchcache import WatchCache
from protos import api_pb2, core_pb2

__all__ = ["MAX_OBJECT_BYTES", "Registry", "Write", "group_kind", "group_resource", "object_key"]


class Registry(ServerSideApply):
    """Every verb (see the layers above), over the objects loaded from the store."""

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
                                DaemonSetStrategy(), StatefulSetStrategy(),
                                ServiceStrategy(service_ranges), EndpointSliceStrategy(),
                                *(strategy() for strategy in CONFIG_STRATEGIES),
                                *(strategy() for strategy in RBAC_STRATEGIES),
                                *(strategy() for strategy in BATCH_STRATEGIES),
                                *(strategy() for strategy in STORAGE_STRATEGIES))
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
