"""The request size limit every side agrees on: Kubernetes' apiserver refuses request
bodies over 3 MiB (``--max-request-bytes``'s default) with 413 "Request entity too large:
limit is 3145728". pykube's apiserver refuses larger requests with the same words and
RESOURCE_EXHAUSTED; clients cap what they send at the same size, and pykubectl refuses an
object that could never fit before sending anything. The in-flight cap answers
RESOURCE_EXHAUSTED too ("Too many requests, please try again later.", Kubernetes' 429): the
trailing metadata's ``reason`` tells the two apart."""

from __future__ import annotations

MAX_REQUEST_BYTES = 3 * 1024 * 1024


def request_too_large(limit: int = MAX_REQUEST_BYTES) -> str:
    """Kubernetes' message (apierrors.NewRequestEntityTooLargeError("limit is N"))."""
    return f"Request entity too large: limit is {limit}"


# The in-flight cap's answer (Kubernetes' WithMaxInFlightLimit: 429 with Retry-After: 1).
TOO_MANY_REQUESTS_MESSAGE = "Too many requests, please try again later."
RETRY_AFTER_SECONDS = 1
# Both limits answer gRPC RESOURCE_EXHAUSTED; the trailing metadata says which, with
# Kubernetes' StatusReason (and, for the cap, when to try again).
REASON_KEY = "reason"
RETRY_AFTER_KEY = "retry-after"
TOO_MANY_REQUESTS_REASON = "TooManyRequests"
REQUEST_ENTITY_TOO_LARGE_REASON = "RequestEntityTooLarge"
