"""The status manager: sends each Pod's status to the apiserver only when it
differs from what the apiserver has, through UpdateStatus (so it can never touch
the spec). Pod workers hand in statuses at any rate; at most one write per Pod is
in flight and only the newest status is sent. Writes go through a Batcher: the
statuses of Pods that change together (a node's Pods after a restart, many hollow
nodes' Pods) travel in one Batch call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

import structlog

from apimachinery.kinds import wrap
from client.api import AsyncAPI, describe, is_not_found
from client.batcher import Batcher
from protos import api_pb2, core_pb2

log = structlog.get_logger("status-manager")


@dataclass
class StatusManager:
    api: AsyncAPI
    current: Callable[[str], core_pb2.Pod | None]  # the apiserver's Pod (from the informer), by uid
    concurrency: int = 16
    retry_delay: float = 0.5
    _pending: dict[str, core_pb2.PodStatus] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    updates_sent: int = 0
    batcher: Batcher | None = None  # None: one UpdateStatus call per write

    def set(self, pod_uid: str, status: core_pb2.PodStatus) -> None:
        """Hand in the status a Pod should have; sent if it differs from the apiserver's."""
        pod = self.current(pod_uid)
        if pod is None:
            return
        if pod.status == status and pod_uid not in self._pending:
            return
        self._pending[pod_uid] = status
        self._wake.set()

    async def run(self) -> None:
        limit = asyncio.Semaphore(self.concurrency)

        async def send(uid: str, status: core_pb2.PodStatus) -> None:
            async with limit:
                if not await self._send(uid, status):
                    await asyncio.sleep(self.retry_delay)
                    self._pending.setdefault(uid, status)
                    self._wake.set()

        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, {}
            await asyncio.gather(*(send(uid, status) for uid, status in batch.items()))

    async def _send(self, uid: str, status: core_pb2.PodStatus) -> bool:
        pod = self.current(uid)
        if pod is None or pod.status == status:
            return True
        update = core_pb2.Pod()
        update.metadata.CopyFrom(pod.metadata)
        update.metadata.resource_version = ""  # status is the kubelet's alone: no compare-and-swap
        update.status.CopyFrom(status)
        try:
            if self.batcher is None:
                await self.api.update_status(update)
            else:
                await self.batcher.submit(api_pb2.BatchOp(update_status=api_pb2.UpdateRequest(object=wrap(update))))
        except asyncio.CancelledError:
            raise
        except Exception as err:
            if is_not_found(err):
                return True
            log.warning("status update failed", pod=pod.metadata.name, error=describe(err))
            return False
        self.updates_sent += 1
        return True
