"""Shared helpers for the ReplicaSet, garbage-collector, node-lifecycle and manager
tests (no tests here): object builders for the pure-decision tests, and an
in-process cluster (apiserver, shared informers, chosen controllers, hollow
kubelets on the fake runtime) for the wiring tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from apiserver.main import APIServer, ServerConfig
from client.api import AsyncAPI, is_conflict, is_not_found
from client.events import EventRecorder
from client.informer import SharedInformers
from controllers.base import Controller
from kubelet.config import KubeletConfig
from kubelet.kubelet import Kubelet
from kubelet.runtime.fake import FakeRuntime
from protos import apps_pb2, core_pb2, meta_pb2

IMAGE = "docker.io/library/web:1.0"
NOW = 1_700_000_000.0


# ------------------------------------------------------------------ builders

def ts(seconds: float):
    from google.protobuf.timestamp_pb2 import Timestamp
    return Timestamp(seconds=int(seconds), nanos=int((seconds % 1) * 1e9))


def make_rs(name: str = "web", replicas: int = 3, labels: dict[str, str] | None = None, *, uid: str = "",
            namespace: str = "default", min_ready_seconds: int = 0, generation: int = 1,
            grace: int = 1) -> apps_pb2.ReplicaSet:
    labels = labels or {"app": name}
    rs = apps_pb2.ReplicaSet(metadata=meta_pb2.ObjectMeta(name=name, namespace=namespace, uid=uid,
                                                          generation=generation))
    rs.spec.replicas = replicas
    rs.spec.min_ready_seconds = min_ready_seconds
    rs.spec.selector.match_labels.update(labels)
    rs.spec.template.metadata.labels.update(labels)
    rs.spec.template.spec.termination_grace_period_seconds = grace
    rs.spec.template.spec.containers.add(name="main", image=IMAGE)
    return rs


def owner_ref(owner: Any, kind: str = "ReplicaSet", controller: bool = True,
              block: bool = True) -> meta_pb2.OwnerReference:
    return meta_pb2.OwnerReference(api_version="apps/v1", kind=kind, name=owner.metadata.name,
                                   uid=owner.metadata.uid, controller=controller, block_owner_deletion=block)


def make_pod(name: str, labels: dict[str, str] | None = None, *, owner: Any = None, node: str = "",
             phase: str = "Pending", ready: bool | None = None, ready_at: float = NOW - 100,
             restarts: int = 0, created: float = NOW - 1000, uid: str = "", deleting: bool = False,
             namespace: str = "default", refs: list[meta_pb2.OwnerReference] | None = None) -> core_pb2.Pod:
    pod = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace=namespace, uid=uid or f"uid-{name}",
                                                    labels=labels if labels is not None else {"app": "web"},
                                                    creation_timestamp=ts(created)))
    if owner is not None:
        pod.metadata.owner_references.append(owner_ref(owner))
    for ref in refs or []:
        pod.metadata.owner_references.append(ref)
    pod.spec.node_name = node
    pod.spec.containers.add(name="main", image=IMAGE)
    pod.status.phase = phase
    if ready is not None:
        pod.status.conditions.add(type="Ready", status="True" if ready else "False",
                                  last_transition_time=ts(ready_at))
    pod.status.container_statuses.add(name="main", restart_count=restarts)
    if deleting:
        pod.metadata.deletion_timestamp.CopyFrom(ts(NOW))
        pod.metadata.deletion_grace_period_seconds = 30
    return pod


# ------------------------------------------------------------------ waiting

async def eventually(what: str, check: Callable[[], Awaitable[Any]], timeout: float = 10.0,
                     interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


# ------------------------------------------------------------------ an in-process cluster

@dataclass
class Cluster:
    server: APIServer
    api: AsyncAPI
    informers: SharedInformers
    controllers: dict[str, Controller] = field(default_factory=dict)
    recorders: list[EventRecorder] = field(default_factory=list)
    kubelets: dict[str, Kubelet] = field(default_factory=dict)
    runtimes: dict[str, FakeRuntime] = field(default_factory=dict)
    tasks: list[asyncio.Task] = field(default_factory=list)

    def add(self, name: str, factory: Callable[[AsyncAPI, SharedInformers, EventRecorder], Controller],
            component: str) -> Controller:
        recorder = EventRecorder(self.api, component)
        self.recorders.append(recorder)
        controller = factory(self.api, self.informers, recorder)
        self.controllers[name] = controller
        return controller

    async def start(self, workers: int = 4) -> None:
        for recorder in self.recorders:
            self.tasks.append(asyncio.create_task(recorder.run()))
        self.informers.start()
        await asyncio.wait_for(self.informers.wait_synced(), 10)
        for controller in self.controllers.values():
            self.tasks.append(asyncio.create_task(controller.run(workers)))

    async def start_kubelet(self, node: str, lease_interval: float = 0.2) -> Kubelet:
        runtime = self.runtimes.setdefault(node, FakeRuntime(node, registry=[IMAGE]))
        kubelet = Kubelet(self.api, runtime, KubeletConfig(node_name=node, backoff_initial=0.2, backoff_max=1,
                                                           relist_interval=0.5, lease_interval=lease_interval))
        await kubelet.start(port=10250)
        self.kubelets[node] = kubelet
        return kubelet

    async def stop_kubelet(self, node: str) -> None:
        kubelet = self.kubelets.pop(node)
        await kubelet.stop()

    async def flush_events(self) -> None:
        for recorder in self.recorders:
            await recorder.flush()

    async def events(self, reason: str) -> list[core_pb2.Event]:
        await self.flush_events()
        items, _ = await self.api.list("Event", "", field_selector=f"reason={reason}")
        return items  # type: ignore[return-value]

    async def settled(self, kind: str = "Pod") -> None:
        """Wait for the moment a controller that reacts wrongly to the last change has done so:
        every object of `kind` the apiserver has reached the informers, and every controller's
        work queue is idle (no key queued or being processed). Tests call it before checking
        that nothing (more) happened, instead of sleeping."""
        items, _ = await self.api.list(kind, "")
        newest = max((int(item.metadata.resource_version) for item in items), default=0)  # type: ignore[attr-defined]
        informer = self.informers.get(kind)

        async def caught_up_and_idle() -> bool:
            return (int(informer.resource_version or 0) >= newest
                    and all(c.queue.idle for c in self.controllers.values()))
        await eventually(f"the controllers to settle after the last {kind} change", caught_up_and_idle)

    async def pods(self, namespace: str = "default", *, active_only: bool = False) -> list[core_pb2.Pod]:
        items, _ = await self.api.list("Pod", namespace)
        if active_only:
            items = [p for p in items if not p.metadata.HasField("deletion_timestamp")]
        return items  # type: ignore[return-value]

    async def bind_unbound(self, node: str, namespace: str = "default") -> int:
        """Stand in for the scheduler: bind every unbound, live Pod to `node`."""
        bound = 0
        for pod in await self.pods(namespace):
            if pod.spec.node_name or pod.metadata.HasField("deletion_timestamp"):
                continue
            try:
                await self.api.bind(namespace, pod.metadata.name, node, pod.metadata.uid)
                bound += 1
            except Exception as err:
                if not (is_conflict(err) or is_not_found(err)):
                    raise
        return bound

    def keep_binding(self, target: Callable[[], str], interval: float = 0.05) -> None:
        """A toy scheduler: bind unbound Pods to target() until the test ends."""
        async def loop() -> None:
            while True:
                await self.bind_unbound(target())
                await asyncio.sleep(interval)
        self.tasks.append(asyncio.create_task(loop()))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for kubelet in list(self.kubelets.values()):
            await kubelet.stop()
        await self.informers.stop()
        await self.api.close()
        await self.server.stop(0)


def in_cluster(scenario: Callable[[Cluster], Awaitable[None]], timeout: float = 40.0) -> None:
    """Run scenario(cluster) against a fresh in-process apiserver; tear everything down."""
    async def main() -> None:
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)
        cluster = Cluster(server, api, SharedInformers(api))
        try:
            await asyncio.wait_for(scenario(cluster), timeout)
        finally:
            await cluster.close()
    asyncio.run(main())
