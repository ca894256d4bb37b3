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

from client.api import AsyncAPI, describe
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
