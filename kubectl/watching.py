"""List and Watch for the CLI: what ``get -w`` prints and what ``delete --wait`` waits on.

``follow`` yields every change after a List, the way an informer sees them: it watches
from the list's resourceVersion, skips bookmarks, re-watches when the stream ends, and
when the server answers "too old resource version" (OUT_OF_RANGE) it lists again and
yields the differences it missed, so the caller never notices the gap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterator

import grpc
from google.protobuf.message import Message

from apimachinery.kinds import KindInfo, unwrap
from protos import api_pb2

ADDED, MODIFIED, DELETED, BOOKMARK = "ADDED", "MODIFIED", "DELETED", "BOOKMARK"
# After a stream that ended without a single event, wait this long before watching again.
IDLE_REWATCH_DELAY = 1.0


@dataclass(frozen=True)
class Query:
    """Which objects: one kind, in a namespace ("" = all, or cluster-scoped), narrowed by selectors."""

    info: KindInfo
    namespace: str = ""
    label_selector: str = ""
    field_selector: str = ""

    def list_request(self) -> api_pb2.ListRequest:
        return api_pb2.ListRequest(kind=self.info.kind, namespace=self.namespace,
                                   label_selector=self.label_selector, field_selector=self.field_selector)

    def watch_request(self, resource_version: str) -> api_pb2.WatchRequest:
        return api_pb2.WatchRequest(kind=self.info.kind, namespace=self.namespace,
                                    label_selector=self.label_selector, field_selector=self.field_selector,
                                    resource_version=resource_version, allow_bookmarks=True)


def list_objects(stub: Any, query: Query) -> tuple[list[Message], str]:
    """The matching objects and the resourceVersion to watch from."""
    response = stub.List(query.list_request())
    return [unwrap(item) for item in response.items], response.resource_version


def _key(obj: Message) -> tuple[str, str]:
    return obj.metadata.namespace, obj.metadata.name


def follow(
    stub: Any,
    query: Query,
    initial: list[Message],
    resource_version: str,
    deadline: float | None = None,
) -> Iterator[tuple[str, Message]]:
    """Yield (event type, object) for each change after ``resource_version``, without end.

    ``deadline`` (a time.monotonic() value) bounds each Watch call; past it the call fails
    with DEADLINE_EXCEEDED, which is the caller's to handle.
    """
    known = {_key(obj): obj for obj in initial}
    while True:
        delivered = False
        try:
            for event in stub.Watch(query.watch_request(resource_version), timeout=_remaining(deadline)):
                obj = unwrap(event.object)
                resource_version = obj.metadata.resource_version or resource_version
                if event.type == BOOKMARK:
                    continue
                delivered = True
                if event.type == DELETED:
                    known.pop(_key(obj), None)
                else:
                    known[_key(obj)] = obj
                yield event.type, obj
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.OUT_OF_RANGE:
                raise
            listed, resource_version = list_objects(stub, query)
            yield from _resync(known, listed)
            continue
        if not delivered:
            time.sleep(IDLE_REWATCH_DELAY)


def _resync(known: dict[tuple[str, str], Message], listed: list[Message]) -> Iterator[tuple[str, Message]]:
    """The changes between what we had seen and a fresh list; updates ``known`` in place."""
    fresh = {_key(obj): obj for obj in listed}
    for key, obj in list(known.items()):
        if key not in fresh:
            del known[key]
            yield DELETED, obj
    for key, obj in fresh.items():
        previous = known.get(key)
        if previous is None or previous.metadata.resource_version != obj.metadata.resource_version:
            known[key] = obj
            yield (ADDED if previous is None else MODIFIED), obj


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())
