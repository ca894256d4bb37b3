"""A typed asyncio client of the pykube API, for the long-running components
(kubelet, scheduler, controllers). Objects go in and come out as the typed
messages (core_pb2.Pod, apps_pb2.Deployment, ...), never the api_pb2.Object wrapper.

Errors stay grpc.aio.AioRpcError; the helpers below name the cases callers handle.
"""

from __future__ import annotations

from typing import AsyncIterator

import grpc
from google.protobuf.message import Message

from apimachinery.kinds import unwrap, wrap
from client.connection import TLSConfig, aio_channel, channel_options
from protos import api_pb2, api_pb2_grpc


def describe(err: BaseException) -> str:
    """One line for a log: "UNAVAILABLE: failed to connect..." rather than the whole repr."""
    if isinstance(err, grpc.RpcError) and hasattr(err, "code"):
        return f"{err.code().name}: {err.details()}"
    return str(err) or type(err).__name__


def is_not_found(err: BaseException) -> bool:
    return isinstance(err, grpc.RpcError) and err.code() == grpc.StatusCode.NOT_FOUND


def is_conflict(err: BaseException) -> bool:
    """Lost an optimistic-concurrency race: re-read and try again."""
    return isinstance(err, grpc.RpcError) and err.code() == grpc.StatusCode.ABORTED


def is_already_exists(err: BaseException) -> bool:
    return isinstance(err, grpc.RpcError) and err.code() == grpc.StatusCode.ALREADY_EXISTS


_STATUS_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class BatchOpError(grpc.RpcError):
    """One op of a Batch failed: the status its own call would have raised, so the
    helpers above (is_conflict, is_not_found, describe) treat it the same way."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self._code = _STATUS_BY_NUMBER.get(code, grpc.StatusCode.UNKNOWN)
        self._details = message

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def is_too_old(err: BaseException) -> bool:
    """A watch's resourceVersion fell out of the server's history: relist."""
    return isinstance(err, grpc.RpcError) and err.code() == grpc.StatusCode.OUT_OF_RANGE


class AsyncAPI:
    def __init__(self, address: str, call_timeout: float = 10.0, tls: TLSConfig | None = None) -> None:
        self.address = address
        self.call_timeout = call_timeout
        self.channel = aio_channel(address, channel_options(), tls)
        self.stub = api_pb2_grpc.APIStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def create(self, obj: Message) -> Message:
        return unwrap(await self.stub.Create(api_pb2.CreateRequest(object=wrap(obj)), timeout=self.call_timeout))

    async def get(self, kind: str, name: str, namespace: str = "") -> Message:
        return unwrap(await self.stub.Get(api_pb2.GetRequest(kind=kind, namespace=namespace, name=name),
                                          timeout=self.call_timeout))

    async def list(self, kind: str, namespace: str = "", label_selector: str = "",
                   field_selector: str = "") -> tuple[list[Message], str]:
        reply = await self.stub.List(api_pb2.ListRequest(kind=kind, namespace=namespace,
                                                         label_selector=label_selector,
                                                         field_selector=field_selector),
                                     timeout=self.call_timeout)
        return [unwrap(o) for o in reply.items], reply.resource_version

    async def update(self, obj: Message) -> Message:
        return unwrap(await self.stub.Update(api_pb2.UpdateRequest(object=wrap(obj)), timeout=self.call_timeout))

    async def update_status(self, obj: Message) -> Message:
        return unwrap(await self.stub.UpdateStatus(api_pb2.UpdateRequest(object=wrap(obj)),
                                                   timeout=self.call_timeout))

    async def delete(self, kind: str, name: str, namespace: str = "", *, grace_period_seconds: int | None = None,
                     uid: str = "", propagation_policy: str = "") -> Message:
        request = api_pb2.DeleteRequest(kind=kind, namespace=namespace, name=name,
                                        preconditions=api_pb2.Preconditions(uid=uid),
                                        propagation_policy=propagation_policy)
        if grace_period_seconds is not None:
            request.grace_period_seconds = grace_period_seconds
        return unwrap(await self.stub.Delete(request, timeout=self.call_timeout))

    async def bind(self, namespace: str, name: str, node_name: str, uid: str = "") -> Message:
        return unwrap(await self.stub.Bind(api_pb2.BindRequest(namespace=namespace, name=name,
                                                               node_name=node_name, uid=uid),
                                           timeout=self.call_timeout))

    async def batch(self, ops: list[api_pb2.BatchOp]) -> list[Message | BatchOpError]:
        """Several writes in one round trip: per op, its object or the error its own
        call would have raised (see BatchRequest in protos/api.proto)."""
        reply = await self.stub.Batch(api_pb2.BatchRequest(ops=ops), timeout=self.call_timeout)
        return [unwrap(r.object) if r.code == 0 else BatchOpError(r.code, r.message) for r in reply.results]

    async def watch(self, kind: str, resource_version: str, namespace: str = "", label_selector: str = "",
                    field_selector: str = "", allow_bookmarks: bool = True
                    ) -> AsyncIterator[tuple[str, Message]]:
        """(event type, object) pairs until the stream ends; errors raise AioRpcError.
        Uses WatchBatches: a burst of events arrives as a few messages, not one each."""
        call = self.stub.WatchBatches(api_pb2.WatchRequest(kind=kind, namespace=namespace,
                                                           label_selector=label_selector,
                                                           field_selector=field_selector,
                                                           resource_version=resource_version,
                                                           allow_bookmarks=allow_bookmarks))
        decode = api_pb2.WatchEvent.FromString
        try:
            async for batch in call:
                for data in batch.events:
                    event = decode(data)
                    yield event.type, unwrap(event.object)
        finally:
            call.cancel()
