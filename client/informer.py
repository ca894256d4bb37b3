"""An informer: a local, always-current copy of one kind of object, and a callback
whenever it changes. The way every pykube component watches the cluster.

It Lists, then Watches from the list's resourceVersion, applying each event to its
cache. When the watch ends it watches again from the last resourceVersion it saw;
when the server says that is too old, it relists and reports the difference as
adds/updates/deletes; when the server is away it retries with back-off, keeping the
cache (and so whatever the component runs) as it was.

Handlers receive objects; by convention they only enqueue a key into a workqueue,
and the real work happens in reconcile(key), which reads the cache.

SharedInformers keeps one informer per kind for a whole process (the controller
manager's controllers, the scheduler), as client-go's SharedInformerFactory.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

import grpc
import structlog
from google.protobuf.message import Message

from client.api import AsyncAPI, is_too_old

log = structlog.get_logger("informer")


def object_key(obj: Message) -> str:
    """"namespace/name" (or "name" for cluster-scoped objects), as Kubernetes' cache keys."""
    meta = obj.metadata  # type: ignore[attr-defined]
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name


@dataclass
class Informer:
    api: AsyncAPI
    kind: str
    namespace: str = ""
    label_selector: str = ""
    field_selector: str = ""
    retry_initial: float = 0.2
    retry_max: float = 5.0
    cache: dict[str, Message] = field(default_factory=dict)
    handlers: list[Callable[[str, Message, Message | None], None]] = field(default_factory=list)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    resource_version: str = ""

    def add_handler(self, handler: Callable[[str, Message, Message | None], None]) -> None:
        """handler(event, obj, old): event is ADDED, MODIFIED or DELETED."""
        self.handlers.append(handler)

    def _notify(self, event: str, obj: Message, old: Message | None) -> None:
        for handler in self.handlers:
            try:
                handler(event, obj, old)
            except Exception:  # one bad handler must not stop the informer
                log.exception("informer handler failed", kind=self.kind, event_type=event)

    def get(self, key: str) -> Message | None:
        return self.cache.get(key)

    def items(self) -> list[Message]:
        return list(self.cache.values())

    async def _relist(self) -> None:
        items, revision = await self.api.list(self.kind, self.namespace, self.label_selector, self.field_selector)
        fresh = {object_key(o): o for o in items}
        for key, old in list(self.cache.items()):
            if key not in fresh:
                del self.cache[key]
                self._notify("DELETED", old, old)
        for key, obj in fresh.items():
            old = self.cache.get(key)
            self.cache[key] = obj
            if old is None:
                self._notify("ADDED", obj, None)
            elif old.metadata.resource_version != obj.metadata.resource_version:  # type: ignore[attr-defined]
                self._notify("MODIFIED", obj, old)
        self.resource_version = revision
        self.synced.set()

    async def _watch(self) -> None:
        async for event, obj in self.api.watch(self.kind, self.resource_version, self.namespace,
                                               self.label_selector, self.field_selector):
            self.resource_version = obj.metadata.resource_version  # type: ignore[attr-defined]
            if event == "BOOKMARK":
                continue
            key = object_key(obj)
            old = self.cache.get(key)
            if event == "DELETED":
                self.cache.pop(key, None)
            else:
                self.cache[key] = obj
            self._notify(event, obj, old)

    async def run(self) -> None:
        """Keep the cache current until cancelled."""
        delay = self.retry_initial
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                await self._watch()
                delay = self.retry_initial  # a clean end of stream: watch again at once
            except asyncio.CancelledError:
                raise
            except grpc.RpcError as err:
                if is_too_old(err):
                    log.info("watch too old, relisting", kind=self.kind)
                    need_list = True
                    continue
                if err.code() != grpc.StatusCode.ABORTED:  # ABORTED: we fell behind; re-watch at once
                    log.warning("watch failed, retrying", kind=self.kind, code=err.code().name,
                                error=err.details(), retry_in=delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry_max)


@dataclass
class SharedInformers:
    """One informer per kind, shared by every controller in the process."""

    api: AsyncAPI
    informers: dict[str, Informer] = field(default_factory=dict)
    tasks: list[asyncio.Task] = field(default_factory=list)

    def get(self, kind: str) -> Informer:
        if kind not in self.informers:
            self.informers[kind] = Informer(self.api, kind)
        return self.informers[kind]

    def start(self) -> None:
        for kind, informer in self.informers.items():
            self.tasks.append(asyncio.create_task(informer.run(), name=f"informer-{kind}"))

    async def wait_synced(self) -> None:
        await asyncio.gather(*(i.synced.wait() for i in self.informers.values()))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
