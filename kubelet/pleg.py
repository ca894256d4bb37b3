"""The pod lifecycle event generator: keeps the kubelet's picture of the runtime
current and tells pod workers when something about their Pod changed.

Two sources, as in Kubernetes' evented PLEG: the runtime's event stream (a
container died → noticed in a fraction of a second) and, as a fallback for
anything missed, a periodic relist of every sandbox and container."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

import structlog

from client.api import describe
from kubelet.reconcile import PodObservation
from kubelet.runtime import ContainerStatus, Runtime, Sandbox

log = structlog.get_logger("pleg")


@dataclass
class RuntimeCache:
    """The last known sandboxes and containers, by Pod uid.

    Every direct write (a pod worker's, the event stream's) is stamped with a generation, so
    that a relist, whose listing is already old when it arrives, keeps what was written after it
    began (Kubernetes' cache has the same rule, with timestamps): otherwise a sandbox created
    while the relist was listing would vanish from the cache and look lost."""

    sandboxes: dict[str, Sandbox] = field(default_factory=dict)  # pod uid -> its current sandbox
    containers: dict[str, ContainerStatus] = field(default_factory=dict)  # container id -> status
    generation: int = 0
    written: dict[tuple[str, str], int] = field(default_factory=dict)  # ("sandbox"|"container", key) -> generation

    def observation(self, pod_uid: str) -> PodObservation:
        return PodObservation(self.sandboxes.get(pod_uid),
                              tuple(c for c in self.containers.values() if c.pod_uid == pod_uid))

    def pod_uids(self) -> set[str]:
        return set(self.sandboxes) | {c.pod_uid for c in self.containers.values()}

    def _stamp(self, kind: str, key: str) -> None:
        self.generation += 1
        self.written[(kind, key)] = self.generation

    def set_container(self, status: ContainerStatus) -> bool:
        """Record a container's status; True if it changed."""
        changed = self.containers.get(status.id) != status
        self.containers[status.id] = status
        self._stamp("container", status.id)
        return changed

    def drop_container(self, container_id: str) -> ContainerStatus | None:
        self._stamp("container", container_id)
        return self.containers.pop(container_id, None)

    def set_sandbox(self, sandbox: Sandbox) -> None:
        self.sandboxes[sandbox.pod_uid] = sandbox
        self._stamp("sandbox", sandbox.pod_uid)

    def drop_sandbox(self, pod_uid: str) -> None:
        self._stamp("sandbox", pod_uid)
        self.sandboxes.pop(pod_uid, None)

    def replace(self, sandboxes: dict[str, Sandbox], containers: dict[str, ContainerStatus],
                listed_at: int) -> set[str]:
        """Take a relist's picture (listing began at generation ``listed_at``), except for entries
        written since; returns the uids of Pods whose picture changed."""
        changed: set[str] = set()
        for kind, current, fresh in (("sandbox", self.sandboxes, sandboxes),
                                     ("container", self.containers, containers)):
            merged = {}
            for key in set(current) | set(fresh):
                newer = self.written.get((kind, key), 0) > listed_at
                value = current.get(key) if newer else fresh.get(key)
                if value is not None:
                    merged[key] = value
                if value != current.get(key):
                    changed.add(key if kind == "sandbox" else (value or current[key]).pod_uid)
            current.clear()
            current.update(merged)
        self.written = {k: g for k, g in self.written.items() if g > listed_at}
        return changed


@dataclass
class PLEG:
    runtime: Runtime
    cache: RuntimeCache
    notify: Callable[[str], None]  # called with a Pod uid whose runtime state changed
    relist_interval: float = 10.0

    async def relist(self) -> None:
        listed_at = self.cache.generation
        sandboxes = await self.runtime.list_sandboxes()
        containers = await self.runtime.list_containers()
        fresh_sandboxes: dict[str, Sandbox] = {}
        for sandbox in sandboxes:
            current = fresh_sandboxes.get(sandbox.pod_uid)
            if current is None or (sandbox.ready and not current.ready):
                fresh_sandboxes[sandbox.pod_uid] = sandbox
        changed = self.cache.replace(fresh_sandboxes, {c.id: c for c in containers}, listed_at)
        for uid in changed:
            self.notify(uid)

    async def run_relist(self) -> None:
        while True:
            await asyncio.sleep(self.relist_interval)
            try:
                await self.relist()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("relist failed", error=describe(err))

    async def run_events(self) -> None:
        """Follow the runtime's event stream; on any container event, re-read that container."""
        while True:
            try:
                async for event in self.runtime.events():
                    status = await self.runtime.container_status(event.container_id)
                    if status is None:
                        gone = self.cache.drop_container(event.container_id)
                        if gone is not None:
                            self.notify(gone.pod_uid)
                    elif self.cache.set_container(status):
                        self.notify(status.pod_uid)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("runtime event stream failed, reconnecting", error=describe(err))
                await asyncio.sleep(1.0)
