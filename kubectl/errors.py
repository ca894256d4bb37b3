"""How pykubectl reports failures: one line on stderr, exit code 1, never a traceback.

* a user mistake (bad flag, bad manifest):  ``error: <what is wrong>``
* the server said no:                        ``Error from server (NotFound): pods "x" not found``
* no server answered:                        ``error: cannot reach the pykube apiserver at ...``
"""

from __future__ import annotations

import re

import grpc

from apimachinery.limits import REASON_KEY, TOO_MANY_REQUESTS_MESSAGE, TOO_MANY_REQUESTS_REASON, request_too_large
from client.connection import short_reason

# The Kubernetes StatusReason kubectl shows for each gRPC code the apiserver uses.
REASONS: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.NOT_FOUND: "NotFound",
    grpc.StatusCode.ALREADY_EXISTS: "AlreadyExists",
    grpc.StatusCode.ABORTED: "Conflict",
    grpc.StatusCode.INVALID_ARGUMENT: "Invalid",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "RequestEntityTooLarge",
    grpc.StatusCode.OUT_OF_RANGE: "Expired",
    grpc.StatusCode.FAILED_PRECONDITION: "Forbidden",
    grpc.StatusCode.UNAUTHENTICATED: "Unauthorized",
    grpc.StatusCode.PERMISSION_DENIED: "Forbidden",
}
DEFAULT_REASON = "InternalError"
GENERIC_SERVER_ERROR = "an error on the server has prevented the request from succeeding"


class CliError(Exception):
    """A failure to print as ``error: <message>`` (exit code 1)."""


class UsageError(CliError):
    """A command line argparse rejected; ``verb`` names the command for the help hint."""

    def __init__(self, message: str, verb: str | None = None) -> None:
        super().__init__(message)
        self.verb = verb


def reason_for(code: grpc.StatusCode | None) -> str:
    return REASONS.get(code, DEFAULT_REASON) if code is not None else DEFAULT_REASON


def trailing_reason(err: grpc.RpcError) -> str | None:
    """The Kubernetes StatusReason the apiserver put in the trailing metadata, if any: it
    tells RESOURCE_EXHAUSTED's two causes (TooManyRequests, RequestEntityTooLarge) apart."""
    try:
        trailer = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    except Exception:  # a call that never reached a server has none
        return None
    for key, value in trailer or ():
        if key == REASON_KEY:
            return value if isinstance(value, str) else value.decode(errors="replace")
    return None


def server_reason(err: grpc.RpcError, code: grpc.StatusCode | None, details: str) -> str:
    """The reason kubectl shows: the server's own when it sent one, else the code's. An
    older server's in-flight refusal is known by Kubernetes' exact message."""
    reason = trailing_reason(err)
    if reason:
        return reason
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and details == TOO_MANY_REQUESTS_MESSAGE:
        return TOO_MANY_REQUESTS_REASON
    return reason_for(code)


# gRPC's words when the client refuses to send a message over its channel's cap.
_NOT_SENT = re.compile(r"Sent message larger than max \((\d+) vs\. (\d+)\)")


def server_error_line(err: grpc.RpcError) -> str:
    """``Error from server (NotFound): pods "web" not found``; a request gRPC refused to send
    (over the size limit) is ``error: Request entity too large: limit is 3145728 ...``."""
    code = err.code() if hasattr(err, "code") else None
    details = (err.details() if hasattr(err, "details") else None) or GENERIC_SERVER_ERROR
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and (unsent := _NOT_SENT.search(details)):
        size, limit = int(unsent.group(1)), int(unsent.group(2))
        return f"error: {request_too_large(limit)} (the request is {size} bytes; nothing was sent)"
    return f"Error from server ({server_reason(err, code, details)}): {details}"


def unreachable_line(address: str, reason: str) -> str:
    return (
        f"error: cannot reach the pykube apiserver at {address}: {reason} "
        "(is pykube-apiserver running? set --server or $PYKUBECONFIG)"
    )


def unreachable_line_for(address: str, err: grpc.RpcError) -> str:
    return unreachable_line(address, short_reason(err))
