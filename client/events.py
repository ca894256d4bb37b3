"""An event recorder: what a component did to an object, as Kubernetes Events
(`pykubectl get events`, `describe`). Recording never blocks the caller: events
go to a queue that a background task writes (what has piled up goes out as one
Batch call), and repeats of the same event on the same object only bump its count,
as Kubernetes aggregates them."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import structlog
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from apimachinery.kinds import info_of, wrap
from client.api import AsyncAPI, describe, is_not_found
from protos import api_pb2, core_pb2, meta_pb2

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
    max_batch: int = 200  # events per Batch call
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    # (involved uid, reason, message) -> the Event written for it
    _written: dict[tuple[str, str, str], core_pb2.Event] = field(default_factory=dict)

    def record(self, obj: Message, event_type: str, reason: str, message: str) -> None:
        if self.queue.qsize() >= self.max_queue:
            log.warning("event dropped, queue full", reason=reason)
            return
        self.queue.put_nowait((reference(obj), event_type, reason, message, time.time()))

    async def run(self) -> None:
        """Write queued events until cancelled: whatever has piled up (up to
        max_batch) goes out as one Batch call."""
        while True:
            items = [await self.queue.get()]
            while len(items) < self.max_batch and not self.queue.empty():
                items.append(self.queue.get_nowait())
            try:
                await self._write_batch(items)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # an event is best-effort: log and go on
                log.warning("events not recorded", count=len(items), error=describe(err))
            finally:
                for _ in items:
                    self.queue.task_done()

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every event recorded so far is written, or given up on (tests,
        shutdown); at most timeout seconds."""
        try:
            await asyncio.wait_for(self.queue.join(), timeout)
        except asyncio.TimeoutError:
            log.warning("events still unwritten after flush", queued=self.queue.qsize(), timeout=timeout)

    async def _write_batch(self, items: list[tuple]) -> None:
        # The same event on the same object several times in this batch: one write,
        # counted as many times (and aggregated onto an Event written before, if any).
        grouped: dict[tuple[str, str, str], list] = {}
        for ref, event_type, reason, message, when in items:
            key = (ref.uid, reason, message)
            if key in grouped:
                grouped[key][4] = when
                grouped[key][5] += 1
            else:
                grouped[key] = [ref, event_type, reason, message, when, 1, when]
        keys = list(grouped)
        ops = [self._op(key, *grouped[key]) for key in keys]
        retry: list[tuple[str, str, str]] = []
        for key, op, result in zip(keys, ops, await self.api.batch(ops)):
            if not isinstance(result, Exception):
                self._remember(key, result)  # type: ignore[arg-type]
            elif op.HasField("update") and is_not_found(result):
                self._written.pop(key, None)  # the aggregate was deleted: write a fresh Event
                retry.append(key)
            else:
                log.warning("event not recorded", reason=key[1], error=describe(result))
        if retry:
            ops = [self._op(key, *grouped[key]) for key in retry]
            for key, result in zip(retry, await self.api.batch(ops)):
                if isinstance(result, Exception):
                    log.warning("event not recorded", reason=key[1], error=describe(result))
                else:
                    self._remember(key, result)  # type: ignore[arg-type]

    def _op(self, key: tuple[str, str, str], ref: meta_pb2.ObjectReference, event_type: str, reason: str,
            message: str, last: float, count: int, first: float) -> api_pb2.BatchOp:
        """Create the Event, or bump the count of the one written for it before
        (Kubernetes' aggregation: one Event per object, reason and message)."""
        earlier = self._written.get(key)
        if earlier is not None:
            event = core_pb2.Event()
            event.CopyFrom(earlier)
            event.count += count
            event.last_timestamp.CopyFrom(Timestamp(seconds=int(last)))
            event.metadata.resource_version = ""
            return api_pb2.BatchOp(update=api_pb2.UpdateRequest(object=wrap(event)))
        event = core_pb2.Event(
            metadata=meta_pb2.ObjectMeta(name=f"{ref.name}.{uuid.uuid4().hex[:16]}", namespace=ref.namespace or "default"),
            involved_object=ref, reason=reason, message=message, type=event_type, count=count,
            source=core_pb2.EventSource(component=self.component, host=self.host),
            reporting_component=self.component, reporting_instance=self.host,
            first_timestamp=Timestamp(seconds=int(first)), last_timestamp=Timestamp(seconds=int(last)))
        return api_pb2.BatchOp(create=api_pb2.CreateRequest(object=wrap(event)))

    def _remember(self, key: tuple[str, str, str], event: core_pb2.Event) -> None:
        if len(self._written) > 4 * self.max_queue:  # bounded memory: forget old aggregates
            self._written.clear()
        self._written[key] = event
