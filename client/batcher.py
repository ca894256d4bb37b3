"""Writes gathered into Batch calls: many callers each await their own result, the
batcher sends what has piled up as one round trip.

Nothing waits to fill a batch: the sender takes whatever is queued the moment it is
free, so a lone write goes out at once (a batch of one) and a burst goes out in
batches as large as the burst, up to max_batch. At most max_in_flight Batch calls
run together, which is also what lets the queue build up under load: while those are
out, new writes gather for the next one."""

from __future__ import annotations

import asyncio

import structlog
from google.protobuf.message import Message

from client.api import AsyncAPI, BatchOpError, describe
from protos import api_pb2

log = structlog.get_logger("batcher")


class Batcher:
    def __init__(self, api: AsyncAPI, *, max_batch: int = 200, max_in_flight: int = 4) -> None:
        self.api = api
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[api_pb2.BatchOp, asyncio.Future]] | None = None
        self._slots: asyncio.Semaphore | None = None
        self.max_in_flight = max_in_flight
        self._sender: asyncio.Task | None = None
        self._calls: set[asyncio.Task] = set()
        self.batches = 0  # Batch calls sent (tests, logs)
        self.submitted = 0  # ops handed to submit() so far (tests, logs)

    async def submit(self, op: api_pb2.BatchOp) -> Message:
        """The op's result as its own call would return it; its error raised as BatchOpError
        (or the Batch call's own error, when the whole call failed)."""
        if self._queue is None:  # created on first use, inside the running loop
            self._queue = asyncio.Queue()
            self._slots = asyncio.Semaphore(self.max_in_flight)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_loop(), name="batcher")
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, future))
        self.submitted += 1
        return await future

    async def bind(self, namespace: str, name: str, node_name: str, uid: str = "") -> Message:
        return await self.submit(api_pb2.BatchOp(bind=api_pb2.BindRequest(
            namespace=namespace, name=name, node_name=node_name, uid=uid)))

    async def _send_loop(self) -> None:
        assert self._queue is not None and self._slots is not None
        while True:
            first = await self._queue.get()
            try:
                await self._slots.acquire()  # wait for a free slot; meanwhile more ops queue up
            except asyncio.CancelledError:  # closing: the op taken is no longer in the queue
                first[1].cancel()
                raise
            batch = [first]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            call = asyncio.create_task(self._send(batch))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

    async def _send(self, batch: list[tuple[api_pb2.BatchOp, asyncio.Future]]) -> None:
        assert self._slots is not None
        try:
            self.batches += 1
            results = await self.api.batch([op for op, _ in batch])
        except asyncio.CancelledError:  # closing: the callers are cancelled too
            for _, future in batch:
                future.cancel()
            raise
        except Exception as err:  # the whole call failed: every op gets its error
            log.debug("batch failed", ops=len(batch), error=describe(err))
            for _, future in batch:
                if not future.done():
                    future.set_exception(err)
            return
        finally:
            self._slots.release()
        for (_, future), result in zip(batch, results):
            if future.done():  # the caller gave up (cancelled)
                continue
            if isinstance(result, BatchOpError):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def close(self) -> None:
        """Stop sending; ops still queued fail with CancelledError."""
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        for call in list(self._calls):
            call.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)
        if self._queue is not None:
            while not self._queue.empty():
                _, future = self._queue.get_nowait()
                future.cancel()
