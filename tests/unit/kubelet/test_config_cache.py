"""The kubelet's watch-based ConfigMap/Secret cache (kubelet/config_cache.py) over a fake API:
one watch per referenced object, started/stopped with the references, reads from the cache,
changes wake the Pods that use the object, broken and too-old watches recover."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from client.api import BatchOpError
from kubelet.config_cache import CacheSyncError, ConfigCache
from protos import core_pb2, meta_pb2


def config_map(name: str, namespace: str = "default", immutable: bool = False, **data: str) -> core_pb2.ConfigMap:
    cm = core_pb2.ConfigMap(metadata=meta_pb2.ObjectMeta(name=name, namespace=namespace), data=data)
    if immutable:
        cm.immutable = True
    return cm


def pod(uid: str, *config_maps: str, secrets: tuple[str, ...] = (), namespace: str = "default") -> core_pb2.Pod:
    p = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=f"pod-{uid}", namespace=namespace, uid=uid))
    c = p.spec.containers.add(name="c", image="x")
    for name in config_maps:
        p.spec.volumes.add(name=f"v-{name}").config_map.name = name
    for name in secrets:
        ref = c.env.add(name=name.upper()).value_from.secret_key_ref
        ref.name, ref.key = name, "k"
    return p


def rpc_error(code: grpc.StatusCode) -> grpc.RpcError:
    return BatchOpError(code.value[0], code.name)


class FakeAPI:
    """list/watch/get of ConfigMaps and Secrets, with what the apiserver does to a
    ``metadata.name=`` field selector; watches can be broken or declared too old."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], core_pb2.ConfigMap] = {}
        self.revision = 1
        self.lists: list[tuple[str, str, str]] = []
        self.gets: list[tuple[str, str, str]] = []
        self.watches: dict[int, tuple[tuple[str, str, str], asyncio.Queue]] = {}
        self.watch_starts: list[tuple[str, str, str, str]] = []  # (kind, namespace, selector, from revision)
        self.list_gate: asyncio.Event | None = None

    @staticmethod
    def _name(field_selector: str) -> str:
        assert field_selector.startswith("metadata.name="), field_selector
        return field_selector.partition("=")[2]

    def _stamp(self, obj) -> None:
        self.revision += 1
        obj.metadata.resource_version = str(self.revision)

    def put(self, kind: str, obj, notify: bool = True) -> None:
        key = (kind, obj.metadata.namespace, obj.metadata.name)
        event = "MODIFIED" if key in self.objects else "ADDED"
        self._stamp(obj)
        self.objects[key] = obj
        if notify:
            self._send(key, event, obj)

    def remove(self, kind: str, namespace: str, name: str) -> None:
        obj = self.objects.pop((kind, namespace, name))
        self._stamp(obj)
        self._send((kind, namespace, name), "DELETED", obj)

    def _send(self, key, event, obj) -> None:
        for watched, queue in self.watches.values():
            if watched == key:
                queue.put_nowait((event, obj))

    def break_watches(self, err: grpc.RpcError) -> None:
        for _, queue in self.watches.values():
            queue.put_nowait(err)

    def open_watches(self) -> list[tuple[str, str, str]]:
        return sorted(key for key, _ in self.watches.values())

    async def list(self, kind, namespace="", label_selector="", field_selector=""):
        if self.list_gate is not None:
            await self.list_gate.wait()
        key = (kind, namespace, self._name(field_selector))
        self.lists.append(key)
        obj = self.objects.get(key)
        return ([obj] if obj is not None else []), str(self.revision)

    async def get(self, kind, name, namespace=""):
        self.gets.append((kind, namespace, name))
        obj = self.objects.get((kind, namespace, name))
        if obj is None:
            raise rpc_error(grpc.StatusCode.NOT_FOUND)
        return obj

    async def watch(self, kind, resource_version, namespace="", label_selector="", field_selector=""):
        key = (kind, namespace, self._name(field_selector))
        self.watch_starts.append((kind, namespace, field_selector, resource_version))
        queue: asyncio.Queue = asyncio.Queue()
        token = object()
        self.watches[id(token)] = (key, queue)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, grpc.RpcError):
                    raise item
                yield item
        finally:
            self.watches.pop(id(token), None)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def run(scenario):
    async def main():
        api = FakeAPI()
        woken: list[str] = []
        cache = ConfigCache(api, on_change=woken.append)  # type: ignore[arg-type]
        try:
            await asyncio.wait_for(scenario(api, cache, woken), 5)
        finally:
            await cache.stop()
    asyncio.run(main())


def test_one_watch_per_referenced_object_started_and_stopped_with_the_references():
    async def scenario(api, cache, woken):
        api.put("ConfigMap", config_map("app", mode="fast"))
        cache.register_pod(pod("a", "app", secrets=("db",)))
        cache.register_pod(pod("b", "app"))
        await settle()
        assert api.open_watches() == [("ConfigMap", "default", "app"), ("Secret", "default", "db")]
        assert sorted(s[:3] for s in api.watch_starts) == [("ConfigMap", "default", "metadata.name=app"),
                                                           ("Secret", "default", "metadata.name=db")]
        assert await cache.data("ConfigMap", "default", "app") == {"mode": b"fast"}
        assert await cache.data("Secret", "default", "db") is None  # not there: Kubernetes' "not found"
        assert api.gets == []  # served from the cache
        assert cache.pods_of(("ConfigMap", "default", "app")) == {"a", "b"}

        cache.register_pod(pod("a", "app", secrets=("db",)))  # the same Pod again (an update)
        await settle()
        assert len(api.watch_starts) == 2  # nothing restarted

        cache.unregister_pod("a")  # b still uses app; nobody uses db
        await settle()
        assert api.open_watches() == [("ConfigMap", "default", "app")]
        cache.unregister_pod("b")
        await settle()
        assert api.open_watches() == [] and cache.watched() == set()
    run(scenario)


def test_a_change_wakes_only_the_pods_that_use_the_object():
    async def scenario(api, cache, woken):
        api.put("ConfigMap", config_map("app", mode="fast"))
        api.put("ConfigMap", config_map("other", x="1"))
        cache.register_pod(pod("a", "app"))
        cache.register_pod(pod("b", "app"))
        cache.register_pod(pod("c", "other"))
        assert await cache.data("ConfigMap", "default", "app") == {"mode": b"fast"}
        await settle()
        assert woken == []  # the first list is what the Pods start with: nobody to wake

        api.put("ConfigMap", config_map("app", mode="slow"))
        await settle()
        assert sorted(woken) == ["a", "b"]
        assert await cache.data("ConfigMap", "default", "app") == {"mode": b"slow"}

        woken.clear()
        changed_metadata_only = config_map("app", mode="slow")
        changed_metadata_only.metadata.labels["x"] = "y"
        api.put("ConfigMap", changed_metadata_only)
        await settle()
        assert woken == []  # same data: the volumes would not change

        api.remove("ConfigMap", "default", "app")
        await settle()
        assert sorted(woken) == ["a", "b"]
        assert await cache.data("ConfigMap", "default", "app") is None
    run(scenario)


def test_an_object_that_appears_later_wakes_its_pods():
    async def scenario(api, cache, woken):
        cache.register_pod(pod("a", "late"))
        assert await cache.data("ConfigMap", "default", "late") is None
        api.put("ConfigMap", config_map("late", k="v"))
        await settle()
        assert woken == ["a"]
        assert await cache.data("ConfigMap", "default", "late") == {"k": b"v"}
    run(scenario)


def test_watch_survives_a_broken_stream_and_a_too_old_revision():
    async def scenario(api, cache, woken):
        api.put("ConfigMap", config_map("app", v="1"))
        cache.register_pod(pod("a", "app"))
        assert await cache.data("ConfigMap", "default", "app") == {"v": b"1"}
        await settle()
        seen = api.watch_starts[-1][3]

        api.break_watches(rpc_error(grpc.StatusCode.ABORTED))  # e.g. the apiserver went away and came back
        await settle()
        assert len(api.watch_starts) == 2 and api.watch_starts[-1][3] == seen  # rewatched from where it was
        api.put("ConfigMap", config_map("app", v="2"))
        await settle()
        assert woken == ["a"]

        # Changed while nobody watched, and the revision fell out of the server's history: relist.
        api.put("ConfigMap", config_map("app", v="3"), notify=False)
        lists = len(api.lists)
        api.break_watches(rpc_error(grpc.StatusCode.OUT_OF_RANGE))
        await settle()
        assert len(api.lists) == lists + 1
        assert woken == ["a", "a"]
        assert await cache.data("ConfigMap", "default", "app") == {"v": b"3"}
    run(scenario)


def test_an_immutable_object_is_not_watched_any_longer():
    async def scenario(api, cache, woken):
        api.put("ConfigMap", config_map("fixed", immutable=True, k="v"))
        cache.register_pod(pod("a", "fixed"))
        assert await cache.data("ConfigMap", "default", "fixed") == {"k": b"v"}
        await settle()
        assert api.open_watches() == [] and cache.watched() == set()
        assert await cache.data("ConfigMap", "default", "fixed") == {"k": b"v"}  # still served
        assert api.gets == []
    run(scenario)


def test_a_list_that_does_not_come_back_is_kubernetes_sync_error():
    async def scenario(api, cache, woken):
        api.list_gate = asyncio.Event()  # the apiserver does not answer
        cache.sync_timeout = 0.05
        cache.register_pod(pod("a", "app"))
        with pytest.raises(CacheSyncError, match="^failed to sync configmap cache: timed out waiting for the condition$"):
            await cache.data("ConfigMap", "default", "app")
        api.put("ConfigMap", config_map("app", k="v"))
        api.list_gate.set()
        assert await cache.data("ConfigMap", "default", "app") == {"k": b"v"}
    run(scenario)


def test_an_object_no_pod_registered_is_read_with_a_get():
    async def scenario(api, cache, woken):
        api.put("Secret", config_map("db", k="v"))
        assert await cache.data("Secret", "default", "db") == {"k": b"v"}
        assert await cache.data("Secret", "default", "nope") is None
        assert api.gets == [("Secret", "default", "db"), ("Secret", "default", "nope")]
        assert api.open_watches() == []
    run(scenario)
