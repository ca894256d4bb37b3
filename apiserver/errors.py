"""API errors: a gRPC status code plus a message phrased as Kubernetes phrases it.

Every failure the apiserver reports is one of these; the gRPC layer turns it into
``context.abort(code, message)``. Clients map the code back to a reason
(NOT_FOUND -> NotFound, ABORTED -> Conflict, ...)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Sequence

import grpc

# gRPC carries a status message in trailers, percent-encoding every byte that is not
# printable ASCII (3 characters each), and a peer drops trailers over 8 KiB as a whole
# (RESOURCE_EXHAUSTED "received metadata size exceeds soft limit"). A longer message (many
# field errors about huge values) is cut to this many UTF-8 bytes, so it still arrives.
MAX_MESSAGE_BYTES = 2048


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def bounded(message: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """The message on one line (control characters escaped, as Go's %q would), or as much of
    it as fits in ``limit`` UTF-8 bytes with a note of the rest."""
    message = _CONTROL.sub(lambda m: {"\n": "\\n", "\t": "\\t"}.get(m.group(), f"\\x{ord(m.group()):02x}"), message)
    data = message.encode("utf-8", "replace")
    if len(data) <= limit:
        return message
    head = data[:limit - 40].decode("utf-8", "ignore")
    return f"{head}... ({len(message) - len(head)} more characters)"


class APIError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        message = bounded(message)
        super().__init__(message)
        self.message = message


class NotFound(APIError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(APIError):
    code = grpc.StatusCode.ALREADY_EXISTS


class Conflict(APIError):
    """Optimistic concurrency lost (stale resourceVersion, failed precondition, already bound)."""

    code = grpc.StatusCode.ABORTED


class ApplyConflict(Conflict):
    """A server-side apply that would change fields other managers own. Kubernetes lists
    several conflicts a line each, so the message keeps its line breaks; ``causes`` name each
    field and its manager (the Status' details.causes)."""

    def __init__(self, message: str, causes: Sequence["FieldManagerConflict"] = ()) -> None:
        super().__init__(message)
        if len(message.encode("utf-8", "replace")) <= MAX_MESSAGE_BYTES:
            self.message = message
        self.causes = tuple(causes)


@dataclass(frozen=True)
class FieldManagerConflict:
    """One field of an apply conflict: path ".spec.replicas", detail 'conflict with "kubectl"'."""

    path: str
    detail: str
    kind: ClassVar[str] = "FieldManagerConflict"

    def __str__(self) -> str:
        return f"{self.path}: {self.detail}"


class Invalid(APIError):
    """A validation failure; ``causes`` are the field errors (validation.FieldError) when known,
    which the HTTP face lists as the Status' details.causes."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str, causes: tuple = ()) -> None:
        super().__init__(message)
        self.causes = tuple(causes)


class BadRequest(APIError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class Forbidden(APIError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class TooOld(APIError):
    """A watch asked for history the cache no longer keeps: relist."""

    code = grpc.StatusCode.OUT_OF_RANGE


class TooLarge(APIError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unauthorized(APIError):
    """No identity could be established (Kubernetes' 401)."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(APIError):
    """The authorizer said no (Kubernetes' 403 from the authorization filter)."""

    code = grpc.StatusCode.PERMISSION_DENIED


class TooManyRequests(APIError):
    """Over the in-flight cap (Kubernetes' 429)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


# What a gRPC status stands for in Kubernetes' HTTP terms, for the audit log's
# responseStatus: (code, reason). INVALID_ARGUMENT is mostly a validation failure (422
# Invalid) though BadRequest (400) shares it; RESOURCE_EXHAUSTED from a handler is a
# too-large object (413), the in-flight cap's 429 is set where it is decided.
HTTP_STATUS: dict[grpc.StatusCode, tuple[int, str]] = {
    grpc.StatusCode.OK: (200, ""),
    grpc.StatusCode.INVALID_ARGUMENT: (422, "Invalid"),
    grpc.StatusCode.NOT_FOUND: (404, "NotFound"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "AlreadyExists"),
    grpc.StatusCode.ABORTED: (409, "Conflict"),
    grpc.StatusCode.FAILED_PRECONDITION: (403, "Forbidden"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "Forbidden"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "Unauthorized"),
    grpc.StatusCode.OUT_OF_RANGE: (410, "Expired"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (413, "RequestEntityTooLarge"),
    grpc.StatusCode.UNIMPLEMENTED: (405, "MethodNotAllowed"),
    grpc.StatusCode.UNAVAILABLE: (503, "ServiceUnavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "Timeout"),
    grpc.StatusCode.CANCELLED: (499, "ClientClosedRequest"),  # nginx's number; Kubernetes has none
}
TOO_MANY_REQUESTS = (429, "TooManyRequests")
INTERNAL_ERROR = (500, "InternalError")


def http_status(code: grpc.StatusCode) -> tuple[int, str]:
    return HTTP_STATUS.get(code, INTERNAL_ERROR)
