"""API errors: a gRPC status code plus a message phrased as Kubernetes phrases it.

Every failure the apiserver reports is one of these; the gRPC layer turns it into
``context.abort(code, message)``. Clients map the code back to a reason
(NOT_FOUND -> NotFound, ABORTED -> Conflict, ...)."""

from __future__ import annotations

import grpc


class APIError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(APIError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(APIError):
    code = grpc.StatusCode.ALREADY_EXISTS


class Conflict(APIError):
    """Optimistic concurrency lost (stale resourceVersion, failed precondition, already bound)."""

    code = grpc.StatusCode.ABORTED


class Invalid(APIError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class BadRequest(APIError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class Forbidden(APIError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class TooOld(APIError):
    """A watch asked for history the cache no longer keeps: relist."""

    code = grpc.StatusCode.OUT_OF_RANGE


class TooLarge(APIError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
