"""The request size limit every side agrees on: Kubernetes' apiserver refuses request
bodies over 3 MiB (``--max-request-bytes``'s default) with 413 "Request entity too large:
limit is 3145728". pykube's apiserver refuses larger requests with the same words and
RESOURCE_EXHAUSTED; clients cap what they send at the same size, and pykubectl refuses an
object that could never fit before sending anything."""

from __future__ import annotations

MAX_REQUEST_BYTES = 3 * 1024 * 1024


def request_too_large(limit: int = MAX_REQUEST_BYTES) -> str:
    """Kubernetes' message (apierrors.NewRequestEntityTooLargeError("limit is N"))."""
    return f"Request entity too large: limit is {limit}"
