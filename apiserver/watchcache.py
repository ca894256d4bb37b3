"""The watch cache: the apiserver's in-memory copy of every object, a bounded
history of recent changes, and the fan-out of those changes to watchers.

Lists and Gets are served from here; Watch replays the history after the client's
resourceVersion and then streams live changes. Each watcher has its own bounded
buffer: a change is appended to every interested watcher's buffer without waiting,
so one slow watcher never delays the others. A watcher whose buffer overflows is
closed (its client re-watches from the last resourceVersion it saw), as Kubernetes
closes watchers that cannot keep up. Events are shared, never copied per watcher:
a change is also encoded at most once per event type (see Change.encoded), and every
watcher that streams it sends those same bytes.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from google.protobuf.message import Message

from apimachinery.selectors import FieldSelector, LabelSelector
from apiserver.errors import TooOld

ADDED, MODIFIED, DELETED, BOOKMARK = "ADDED", "MODIFIED", "DELETED", "BOOKMARK"

# Watchers that select one value of their kind's index field are indexed by that value:
# a change is offered only to the watchers of the value(s) its object has, or had,
# instead of being matched against every watch. Kubelets make two such watches each:
# their Pods ("spec.nodeName=<node>") and their own Node ("metadata.name=<node>"), so
# with 1000 nodes a Pod or Node change is matched against a few watchers, not 1000.
NODE_FIELD = "spec.nodeName"
NAME_FIELD = "metadata.name"


def index_field(kind: str) -> str:
    return NODE_FIELD if kind == "Pod" else NAME_FIELD


def index_value(kind: str, obj: Message) -> str:
    """obj's value of its kind's index field."""
    if kind == "Pod":
        return obj.spec.node_name  # type: ignore[attr-defined]
    return obj.metadata.name  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change. obj is the new state (for DELETED, the last state
    stamped with the deletion's revision); prev is the state before."""

    type: str
    kind: str
    key: str
    revision: int
    obj: Message
    prev: Message | None
    # Encoding form + event type -> this change encoded as an event of that type, filled on
    # first use (a change is ADDED for one watcher and MODIFIED for another; see PendingEvent).
    encoded: dict[str, bytes] = field(default_factory=dict, compare=False)


@dataclass(slots=True)
class PendingEvent:
    """An event waiting in a watcher's buffer: its type, the object, and the shared
    encoding cache of the change it came from (None for a fresh watch's initial ADDED)."""

    type: str
    obj: Message
    encoded: dict[str, bytes] | None = None

    def encode(self, encoder: Callable[[str, Message], bytes], form: str = "") -> bytes:
        """This event encoded by encoder, once per change: form tells encodings apart (""
        for the gRPC face's WatchEvent, "json:" for the HTTP face's JSON line)."""
        if self.encoded is None:
            return encoder(self.type, self.obj)
        key = form + self.type
        data = self.encoded.get(key)
        if data is None:
            data = self.encoded[key] = encoder(self.type, self.obj)
        return data


class Watcher:
    """One client's watch: its filter and its buffer of pending (type, object) events."""

    def __init__(self, kind: str, namespace: str, labels: LabelSelector, fields: FieldSelector,
                 capacity: int) -> None:
        self.kind = kind
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.capacity = capacity
        self.buffer: deque[PendingEvent] = deque()
        self.wakeup = asyncio.Event()
        self.closed_reason: str | None = None
        # Changes at or below this revision were already seen by the client.
        self.seen_revision = 0

    def matches(self, obj: Message) -> bool:
        meta = obj.metadata  # type: ignore[attr-defined]
        if self.namespace and meta.namespace != self.namespace:
            return False
        if not self.labels.empty and not self.labels.matches(meta.labels):
            return False
        return self.fields.empty or self.fields.matches(obj)

    def offer(self, change: Change) -> None:
        """Translate a change through this watcher's filter, as Kubernetes does: an
        object that starts matching is ADDED, one that stops matching is DELETED."""
        if self.closed_reason is not None or change.revision <= self.seen_revision:
            return
        now = self.matches(change.obj)
        before = change.prev is not None and change.type != ADDED and self.matches(change.prev)
        if change.type == DELETED:
            event = DELETED if now else None
        elif now and before:
            event = MODIFIED
        elif now:
            event = ADDED
        elif before:
            event = DELETED
        else:
            event = None
        if event is not None:
            self.push(event, change.obj, change.encoded)

    def push(self, event_type: str, obj: Message, encoded: dict[str, bytes] | None = None) -> None:
        if len(self.buffer) >= self.capacity:
            self.close(f"watch closed: the client fell more than {self.capacity} events behind; "
                       "watch again from the last resourceVersion received")
            return
        self.buffer.append(PendingEvent(event_type, obj, encoded))
        self.wakeup.set()

    def close(self, reason: str) -> None:
        self.closed_reason = reason
        self.buffer.clear()
        self.wakeup.set()

    def drain(self, limit: int | None = None) -> list[PendingEvent]:
        """Take up to limit (default: all) pending events, oldest first."""
        if limit is None or limit >= len(self.buffer):
            events = list(self.buffer)
            self.buffer.clear()
        else:
            events = [self.buffer.popleft() for _ in range(limit)]
        if not self.buffer:
            self.wakeup.clear()
        return events


class WatchCache:
    def __init__(self, history_size: int = 10_000, watcher_capacity: int = 100_000) -> None:
        self.history: deque[Change] = deque()
        self.history_size = history_size
        self.watcher_capacity = watcher_capacity
        self.objects: dict[str, dict[str, Message]] = {}  # kind -> key -> object
        self.namespace_counts: Counter[str] = Counter()  # namespaced objects per namespace
        self.watchers: dict[str, set[Watcher]] = {}  # kind -> every watcher of it
        # kind -> index value X -> the watchers selecting X (see index_field)
        self._indexed: dict[str, dict[str, set[Watcher]]] = {}
        self._unindexed: dict[str, set[Watcher]] = {}  # kind -> the other watchers
        self.revision = 0
        # History holds every change with revision > oldest_revision.
        self.oldest_revision = 0
        # Called with every change as it is applied, in-process (the RBAC authorizer's view).
        self.listeners: list[Callable[[Change], None]] = []

    def reset(self, items: Iterable[tuple[str, str, Message]], revision: int) -> None:
        """Fill from the store at start-up: (kind, key, object) and its revision."""
        for kind, key, obj in items:
            self.objects.setdefault(kind, {})[key] = obj
            if obj.metadata.namespace:  # type: ignore[attr-defined]
                self.namespace_counts[obj.metadata.namespace] += 1  # type: ignore[attr-defined]
        self.revision = self.oldest_revision = revision

    def get(self, kind: str, key: str) -> Message | None:
        return self.objects.get(kind, {}).get(key)

    def items(self, kind: str) -> Iterator[Message]:
        return iter(self.objects.get(kind, {}).values())

    def apply(self, change: Change) -> None:
        """Record a committed change and fan it out to the interested watchers."""
        objects = self.objects.setdefault(change.kind, {})
        namespace = change.obj.metadata.namespace  # type: ignore[attr-defined]
        if change.type == DELETED:
            objects.pop(change.key, None)
            if namespace:
                self.namespace_counts[namespace] -= 1
        else:
            if change.key not in objects and namespace:
                self.namespace_counts[namespace] += 1
            objects[change.key] = change.obj
        self.revision = change.revision
        self.history.append(change)
        if len(self.history) > self.history_size:
            self.oldest_revision = self.history.popleft().revision
        for listener in self.listeners:
            listener(change)
        for watcher in self._unindexed.get(change.kind, ()):
            watcher.offer(change)
        by_value = self._indexed.get(change.kind)
        if not by_value:
            return
        value = index_value(change.kind, change.obj)
        for watcher in by_value.get(value, ()):
            watcher.offer(change)
        if change.prev is not None:
            before = index_value(change.kind, change.prev)
            if before != value:
                for watcher in by_value.get(before, ()):
                    watcher.offer(change)

    def watch(self, kind: str, namespace: str, labels: LabelSelector, fields: FieldSelector,
              from_revision: int | None) -> Watcher:
        """Register a watcher, primed with what it must see first.

        from_revision None: an ADDED event for every matching object (a fresh start).
        Otherwise every change after from_revision, or TooOld if history no longer
        reaches back that far."""
        watcher = Watcher(kind, namespace, labels, fields, self.watcher_capacity)
        if from_revision is None:
            for obj in self.items(kind):
                if watcher.matches(obj):
                    watcher.buffer.append(PendingEvent(ADDED, obj))
        else:
            if from_revision < self.oldest_revision:
                raise TooOld(f"too old resource version: {from_revision} ({self.oldest_revision})")
            watcher.seen_revision = from_revision  # also skips live changes up to a future revision
            for change in self.history:
                if change.revision > from_revision and change.kind == kind:
                    watcher.offer(change)
        if watcher.buffer:
            watcher.wakeup.set()
        self.watchers.setdefault(kind, set()).add(watcher)
        value = fields.required_value(index_field(kind))
        if value is None:
            self._unindexed.setdefault(kind, set()).add(watcher)
        else:
            self._indexed.setdefault(kind, {}).setdefault(value, set()).add(watcher)
        return watcher

    def stop(self, watcher: Watcher) -> None:
        self.watchers.get(watcher.kind, set()).discard(watcher)
        self._unindexed.get(watcher.kind, set()).discard(watcher)
        value = watcher.fields.required_value(index_field(watcher.kind))
        by_value = self._indexed.get(watcher.kind, {})
        watchers = by_value.get(value) if value is not None else None
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del by_value[value]
