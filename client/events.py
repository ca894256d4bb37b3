"""An event recorder: what a component did to an object, as Kubernetes Events
(`pykubectl get events`, `describe`). Recording never blocks the caller: events
go to a queue that a background task writes, and repeats of the same event on
the same object only bump its count, as Kubernetes aggregates them."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import structlog
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from apimachinery.kinds import info_of
from client.api import AsyncAPI, describe, is_not_found
from protos import core_pb2, meta_pb2

log = structlog.get_logger("events")
NORMAL, WARNING = "Normal", "Warning"


def reference(obj: Message) -> meta_pb2.ObjectReference:
    info = info_of(obj)
    meta = obj.metadata  # type: ignore[attr-defined]
    return meta_pb2.ObjectReference(kind=info.kind, api_version=info.api_version, namespace=meta.namespace,
                                    name=meta.name, uid=meta.uid, resource_version=meta.resource_version)


@dataclass
class EventRecorder:
    api: AsyncAPI
    component: str  # "kubelet", "scheduler", "deployment-controller"
    host: str = ""
    max_queue: int = 10_000
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    # (involved uid, reason, message) -> the Event written for it
    _written: dict[tuple[str, str, str], core_pb2.Event] = field(default_factory=dict)

    def record(self, obj: Message, event_type: str, reason: str, message: str) -> None:
        if self.queue.qsize() >= self.max_queue:
            log.warning("event dropped, queue full", reason=reason)
            return
        self.queue.put_nowait((reference(obj), event_type, reason, message, time.time()))

    async def run(self) -> None:
        while True:
            ref, event_type, reason, message, when = await self.queue.get()
            try:
                await self._write(ref, event_type, reason, message, when)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # an event is best-effort: log and go on
                log.warning("event not recorded", reason=reason, error=describe(err))

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until queued events are written (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while not self.queue.empty() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def _write(self, ref: meta_pb2.ObjectReference, event_type: str, reason: str, message: str,
                     when: float) -> None:
        stamp = Timestamp(seconds=int(when))
        key = (ref.uid, reason, message)
        earlier = self._written.get(key)
        if earlier is not None:
            event = core_pb2.Event()
            event.CopyFrom(earlier)
            event.count += 1
            event.last_timestamp.CopyFrom(stamp)
            event.metadata.resource_version = ""
            try:
                self._written[key] = await self.api.update(event)
                return
            except Exception as err:
                if not is_not_found(err):
                    raise
        event = core_pb2.Event(
            metadata=meta_pb2.ObjectMeta(name=f"{ref.name}.{uuid.uuid4().hex[:16]}", namespace=ref.namespace or "default"),
            involved_object=ref, reason=reason, message=message, type=event_type, count=1,
            source=core_pb2.EventSource(component=self.component, host=self.host),
            reporting_component=self.component, reporting_instance=self.host,
            first_timestamp=stamp, last_timestamp=stamp)
        if len(self._written) > 4 * self.max_queue:  # bounded memory: forget old aggregates
            self._written.clear()
        self._written[key] = await self.api.create(event)
