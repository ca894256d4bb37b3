"""The request size limit, answered in Kubernetes' words.

gRPC's own receive cap refuses an oversized message before any handler runs, with its
internal wording ("Received message larger than max (5242931 vs. 3145728)"). So the server's
gRPC cap is set well above the limit (HARD_CAP_FACTOR times it: a 10 MB request still reaches
us) and this interceptor answers every unary call whose request is over the limit with
RESOURCE_EXHAUSTED "Request entity too large: limit is 3145728" (trailing metadata
``reason: RequestEntityTooLarge``), as Kubernetes answers 413.
The oversized request is never parsed: its deserializer sees only the byte count. A request
that does not parse as its message type gets INVALID_ARGUMENT instead of gRPC's INTERNAL
"Exception deserializing request!" (Kubernetes answers a body it cannot decode with 400).

Streaming calls (Watch, Logs, Exec and PortForward) are left to gRPC's cap: their requests
are a few fields or small chunks by construction.
"""

from __future__ import annotations

import inspect
from typing import Any, Awaitable, Callable

import grpc
from google.protobuf.message import DecodeError

from apimachinery.limits import REASON_KEY, REQUEST_ENTITY_TOO_LARGE_REASON, request_too_large

# Told apart from the in-flight cap's RESOURCE_EXHAUSTED by the reason in the trailing metadata.
TOO_LARGE_TRAILER = ((REASON_KEY, REQUEST_ENTITY_TOO_LARGE_REASON),)
# How far above the limit gRPC's own receive cap sits (requests between the two get our words).
HARD_CAP_FACTOR = 4


class _Refused:
    """Stands for a request that was not parsed: too large, or not a protobuf message of its type."""

    __slots__ = ("code", "message", "trailer")

    def __init__(self, code: grpc.StatusCode, message: str, trailer: tuple[tuple[str, str], ...] = ()) -> None:
        self.code = code
        self.message = message
        self.trailer = trailer


def hard_cap(limit: int) -> int:
    """gRPC's max_receive_message_length for a server with this request limit."""
    return -1 if limit < 0 else limit * HARD_CAP_FACTOR


class RequestSizeLimit(grpc.aio.ServerInterceptor):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.message = request_too_large(limit)

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if (handler is None or handler.unary_unary is None or self.limit < 0
                or not inspect.iscoroutinefunction(handler.unary_unary)):
            return handler
        return self.limited(handler)

    def limited(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        parse, behavior, limit, message = handler.request_deserializer, handler.unary_unary, self.limit, self.message

        def deserialize(data: bytes) -> Any:
            if len(data) > limit:
                return _Refused(grpc.StatusCode.RESOURCE_EXHAUSTED, message, TOO_LARGE_TRAILER)
            try:
                return parse(data) if parse is not None else data
            except DecodeError:  # gRPC would answer INTERNAL "Exception deserializing request!"
                return _Refused(grpc.StatusCode.INVALID_ARGUMENT,
                                "the request could not be decoded: not a valid protobuf message of its type")

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, _Refused):
                await context.abort(request.code, request.message, request.trailer)
            return await behavior(request, context)

        return grpc.unary_unary_rpc_method_handler(call, request_deserializer=deserialize,
                                                   response_serializer=handler.response_serializer)
