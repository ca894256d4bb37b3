"""The audit log: one JSON line per request, shaped as Kubernetes' audit.k8s.io/v1 Event.

    {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "…",
     "stage": "ResponseComplete", "requestURI": "/pykube.v1.API/Create", "verb": "create",
     "user": {"username": "alice", "groups": ["dev", "system:authenticated"]},
     "sourceIPs": ["127.0.0.1"], "userAgent": "grpc-python/1.66.1 …",
     "objectRef": {"resource": "pods", "namespace": "dev", "name": "web", "apiVersion": "v1"},
     "responseStatus": {"metadata": {}, "code": 201},
     "requestReceivedTimestamp": "2026-12-03T17:44:51.123456Z",
     "stageTimestamp": "2026-12-03T17:44:51.124690Z",
     "annotations": {"authorization.k8s.io/decision": "allow", "apiserver.latency.k8s.io/total": "1.234ms"}}

Levels as Kubernetes' policy levels: None (nothing), Metadata (who, what, the answer),
Request (+ requestObject), RequestResponse (+ responseObject). pykube has no policy file:
one level for every request (``--audit-level``). The latency Kubernetes adds only to
slow requests (``apiserver.latency.k8s.io/total``) is on every event here.

Writing never holds up a request: events go through a bounded queue to a writer thread
that turns them into lines and flushes when the queue runs dry; if the disk stalls and
the queue fills, further events are dropped and counted (Kubernetes' batch backend does
the same), and a failed write is logged, never passed on to the request."""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
from datetime import datetime, timezone
from typing import IO, Any

import structlog

log = structlog.get_logger("apiserver.audit")

LEVELS = ("None", "Metadata", "Request", "RequestResponse")
METADATA, REQUEST, REQUEST_RESPONSE = 1, 2, 3
MAX_QUEUED = 10_000
_STOP = object()


def level_rank(level: str) -> int:
    try:
        return LEVELS.index(level)
    except ValueError:
        raise ValueError(f'invalid audit level "{level}" (one of: {", ".join(LEVELS)})') from None


def micro_time(seconds: float) -> str:
    """Kubernetes' MicroTime: RFC 3339 in UTC with microseconds."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def go_duration(seconds: float) -> str:
    """A duration as Go prints one ("850µs", "1.234567ms", "2.5s", "1m30s")."""
    nanos = round(seconds * 1e9)

    def trim(value: int, digits: int) -> str:  # whole nanoseconds, as Go keeps them
        whole, frac = divmod(value, 10 ** digits)
        return f"{whole}.{frac:0{digits}d}".rstrip("0").rstrip(".")
    if nanos < 1_000:
        return f"{nanos}ns"
    if nanos < 1_000_000:
        return f"{trim(nanos, 3)}µs"
    if nanos < 1_000_000_000:
        return f"{trim(nanos, 6)}ms"
    minutes, rest = divmod(nanos, 60_000_000_000)
    return f"{minutes}m{trim(rest, 9)}s" if minutes else f"{trim(rest, 9)}s"


def source_ips(peer: str) -> list[str]:
    """The client address from gRPC's peer string ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000")."""
    scheme, _, rest = peer.partition(":")
    if scheme == "ipv4":
        return [rest.rpartition(":")[0]]
    if scheme == "ipv6":
        return [rest.rpartition(":")[0].strip("[]")]
    return [peer] if peer else []


def response_status(code: int, reason: str = "", message: str = "") -> dict[str, Any]:
    """metav1.Status as Kubernetes puts it in an audit event (Failure details only on failure)."""
    if code < 400:
        return {"metadata": {}, "code": code}
    return {"metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}


def build_event(*, level: int, audit_id: str, stage: str, uri: str, verb: str, user: Any, peer: str,
                user_agent: str, object_ref: dict[str, str] | None, status: dict[str, Any] | None,
                received: float, now: float, annotations: dict[str, str],
                request_object: Any = None, response_object: Any = None) -> dict[str, Any]:
    """One audit.k8s.io/v1 Event as a dict (pure: everything comes in)."""
    event: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": LEVELS[level], "auditID": audit_id,
        "stage": stage, "requestURI": uri, "verb": verb,
        "user": {"username": user.name, "groups": list(user.groups)} if user is not None else {},
        "sourceIPs": source_ips(peer),
    }
    if user_agent:
        event["userAgent"] = user_agent
    if object_ref:
        event["objectRef"] = object_ref
    if status is not None:
        event["responseStatus"] = status
    if level >= REQUEST and request_object is not None:
        event["requestObject"] = request_object
    if level >= REQUEST_RESPONSE and response_object is not None:
        event["responseObject"] = response_object
    event["requestReceivedTimestamp"] = micro_time(received)
    event["stageTimestamp"] = micro_time(now)
    if annotations:
        event["annotations"] = annotations
    return event


class AuditLog:
    """The log backend: ``log(event)`` queues, a thread writes (see the module docstring).
    ``path`` "-" is stdout; a file is created 0600 and appended to."""

    def __init__(self, path: str, level: str, max_queued: int = MAX_QUEUED) -> None:
        self.level = level_rank(level)
        self.path = path
        self.dropped = 0
        self.written = 0
        self._failing = False
        self._queue: queue.Queue[Any] = queue.Queue(max_queued)
        self._out: IO[str] = sys.stdout if path == "-" else os.fdopen(
            os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a", encoding="utf-8")
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def log(self, event: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            if self.dropped == 0:
                log.error("audit log queue full: dropping events until the writer catches up", path=self.path)
            self.dropped += 1

    def _write(self, event: dict[str, Any]) -> None:
        try:
            self._out.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n")
            self.written += 1
            self._failing = False
        except (OSError, ValueError, TypeError) as err:
            if not self._failing:  # once per run of failures, not once per event
                log.error("audit log write failed", path=self.path, error=str(err))
            self._failing = True

    def _flush(self) -> None:
        try:
            self._out.flush()
        except (OSError, ValueError) as err:
            if not self._failing:
                log.error("audit log flush failed", path=self.path, error=str(err))
            self._failing = True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            while item is not _STOP:
                self._write(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._flush()
            if item is _STOP:
                return

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer (blocks up to `timeout`)."""
        deadline = time.monotonic() + timeout
        while self._thread.is_alive():
            try:
                self._queue.put(_STOP, timeout=0.1)
                break
            except queue.Full:
                if time.monotonic() > deadline:
                    break
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._out is not sys.stdout:
            self._out.close()
        if self.dropped:
            log.error("audit events dropped", path=self.path, dropped=self.dropped)
