"""What every controller shares: informers from one shared set (client.informer's
SharedInformers), a key-only work queue, and workers that call reconcile(key)
until the queue is empty.

The pattern (client-go's): informer event → handler enqueues the object's key
(or its owner's) → a worker takes the key → reconcile(key) reads the caches,
decides (a pure function, unit-tested on its own) and writes the difference
through the API. A reconcile that raises is retried with per-key back-off."""

from __future__ import annotations

import asyncio

import structlog
from google.protobuf.message import Message

from client.api import AsyncAPI, describe, is_conflict, is_not_found
from client.events import EventRecorder
from client.informer import SharedInformers, object_key
from client.workqueue import WorkQueue

log = structlog.get_logger("controller")


class Controller:
    """Subclasses set `name`, register handlers in __init__, and implement reconcile(key)."""

    name = "controller"

    def __init__(self, api: AsyncAPI, informers: SharedInformers, recorder: EventRecorder) -> None:
        self.api = api
        self.informers = informers
        self.recorder = recorder
        self.queue = WorkQueue()

    def enqueue(self, obj: Message) -> None:
        self.queue.add(object_key(obj))

    async def reconcile(self, key: str) -> None:
        raise NotImplementedError

    async def write_status(self, obj: Message, status: Message) -> bool:
        """UpdateStatus of ``obj`` with ``status``; whether it was written. Gone: nothing to
        write. A conflict (the object changed meanwhile): its key is queued again, and the
        next reconcile decides from the newer object, as Kubernetes' controllers do."""
        new = type(obj)()
        new.CopyFrom(obj)
        new.status.CopyFrom(status)  # type: ignore[attr-defined]
        try:
            await self.api.update_status(new)
        except Exception as err:
            if is_not_found(err):
                return False
            if is_conflict(err):
                self.queue.add(object_key(obj))
                return False
            raise
        return True

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.reconcile(key)
                self.queue.forget(key)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("reconcile failed, will retry", controller=self.name, key=key, error=describe(err),
                            failures=self.queue.failures(key) + 1)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    async def run(self, workers: int = 4) -> None:
        """Process keys until cancelled (call after the informers synced)."""
        await asyncio.gather(*(self._worker() for _ in range(workers)))
