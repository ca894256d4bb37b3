"""Expectations: what a controller has asked for and not yet seen in its cache.

Why they exist: a controller decides from its informer cache, and the cache lags
its own writes. A ReplicaSet that wants 3 Pods creates 3; if the next reconcile
(triggered by any event, a moment later) still sees 0 Pods in the cache it would
create 3 more. So before writing, the controller records "expect 3 adds" for the
ReplicaSet; every Pod ADDED the informer delivers lowers it by one; and while an
expectation is pending, reconcile does not create or delete anything (it only
updates status and ownership). Once the cache has caught up, or the expectation
expires (a lost event must not block the controller for ever), it acts again.

Deletions are tracked by Pod key rather than by count (client-go's
UIDTrackingControllerExpectations): a Pod is seen "deleted" both when its
deletionTimestamp appears and when it finally goes, and only the first of those
may lower the expectation.

Like client-go's ControllerExpectations; the clock is injectable for tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# client-go's ExpectationsTimeout: after this an unmet expectation is ignored.
EXPECTATIONS_TIMEOUT = 300.0


@dataclass
class _Expectation:
    adds: int
    deletes: set[str]
    created_at: float


@dataclass
class Expectations:
    clock: Callable[[], float] = time.monotonic
    timeout: float = EXPECTATIONS_TIMEOUT
    _items: dict[str, _Expectation] = field(default_factory=dict)

    def expect_creations(self, key: str, count: int) -> None:
        """Record that `count` creations were just asked for (replacing any old record)."""
        previous = self._items.get(key)
        deletes = previous.deletes if previous is not None and not self._expired(previous) else set()
        self._items[key] = _Expectation(count, set(deletes), self.clock())

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        """Record that these Pods (by "namespace/name") were just asked to go."""
        previous = self._items.get(key)
        adds = previous.adds if previous is not None and not self._expired(previous) else 0
        self._items[key] = _Expectation(adds, set(pod_keys), self.clock())

    def creation_observed(self, key: str) -> None:
        """The informer delivered an ADDED Pod owned by `key` (or a creation failed)."""
        item = self._items.get(key)
        if item is not None:
            item.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        """A Pod owned by `key` is going (deletionTimestamp set, DELETED, or the delete failed)."""
        item = self._items.get(key)
        if item is not None:
            item.deletes.discard(pod_key)

    def satisfied(self, key: str) -> bool:
        """True when nothing is pending for `key`: no record, all seen, or expired."""
        item = self._items.get(key)
        if item is None:
            return True
        return (item.adds <= 0 and not item.deletes) or self._expired(item)

    def pending(self, key: str) -> tuple[int, int]:
        """(adds, deletes) still awaited, for logs and tests."""
        item = self._items.get(key)
        if item is None:
            return 0, 0
        return max(item.adds, 0), len(item.deletes)

    def expires_in(self, key: str) -> float:
        """Seconds until a pending expectation stops blocking (0 when it does not)."""
        item = self._items.get(key)
        if item is None or self.satisfied(key):
            return 0.0
        return max(0.0, item.created_at + self.timeout - self.clock())

    def delete(self, key: str) -> None:
        """Forget `key` (its ReplicaSet was deleted)."""
        self._items.pop(key, None)

    def _expired(self, item: _Expectation) -> bool:
        return self.clock() - item.created_at > self.timeout
