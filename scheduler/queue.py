"""The scheduling queue: the unbound Pods waiting for a node.

Two parts, as in kube-scheduler:

- the active queue, FIFO by creation time (then arrival), which the scheduling
  loop pops from;
- the back-off queue, where a Pod that fit nowhere waits `initial_backoff`
  seconds, doubling with every failed attempt up to `max_backoff`, before it is
  tried again. Waiting that long would be slow when the cluster changed in its
  favour, so a cluster event that may free room or add room (a Node added or
  becoming Ready/schedulable, a bound Pod deleted or finished) moves every waiting
  Pod back to the active queue at once.

The queue holds Pod objects keyed by uid; informer updates replace the stored
object, so a Pod is always scheduled from its newest version.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

from protos import core_pb2

DEFAULT_SCHEDULER_NAME = "default-scheduler"


def wants_scheduling(pod: core_pb2.Pod, scheduler_name: str = DEFAULT_SCHEDULER_NAME) -> bool:
    """An unbound Pod that is ours (schedulerName unset or ours) and not being deleted."""
    return (not pod.spec.node_name
            and pod.spec.scheduler_name in ("", scheduler_name)
            and not pod.metadata.HasField("deletion_timestamp"))


def backoff_duration(attempts: int, initial: float, maximum: float) -> float:
    """initial, 2*initial, 4*initial ... capped at maximum, after the n-th failed attempt."""
    if attempts <= 0:
        return 0.0
    return min(initial * 2 ** (attempts - 1), maximum)


@dataclass(slots=True)
class QueuedPod:
    pod: core_pb2.Pod
    uid: str
    key: str
    order: tuple[int, int, int]  # (creation seconds, nanos, arrival): the FIFO position
    attempts: int = 0  # failed scheduling attempts so far
    backoff_until: float = 0.0


class SchedulingQueue:
    def __init__(self, initial_backoff: float = 1.0, max_backoff: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.clock = clock
        self._arrival = itertools.count()
        self._token = itertools.count()
        # uid -> (entry, heap token); heaps hold (sort key, token, uid), stale tokens are skipped.
        self._active: dict[str, tuple[QueuedPod, int]] = {}
        self._active_heap: list[tuple[tuple[int, int, int], int, str]] = []
        self._backoff: dict[str, tuple[QueuedPod, int]] = {}
        self._backoff_heap: list[tuple[float, int, str]] = []
        self._wakeup = asyncio.Event()

    # ------------------------------------------------------------ informer side

    def add(self, pod: core_pb2.Pod) -> None:
        """A Pod to schedule (new, or updated: the stored object is replaced)."""
        uid = pod.metadata.uid
        if uid in self._active:
            self._active[uid][0].pod = pod
            return
        if uid in self._backoff:
            entry = self._backoff[uid][0]
            changed = entry.pod.spec != pod.spec  # e.g. a toleration added: worth trying now
            entry.pod = pod
            if changed:
                self._activate(self._backoff.pop(uid)[0])
            return
        created = pod.metadata.creation_timestamp
        self._activate(QueuedPod(pod, uid, f"{pod.metadata.namespace}/{pod.metadata.name}",
                                 (created.seconds, created.nanos, next(self._arrival))))

    def delete(self, uid: str) -> None:
        """The Pod got bound, was deleted, or is no longer ours."""
        self._active.pop(uid, None)
        self._backoff.pop(uid, None)

    def __contains__(self, uid: str) -> bool:
        return uid in self._active or uid in self._backoff

    # ---------------------------------------------------------- scheduler side

    async def pop(self) -> QueuedPod:
        """The oldest active Pod, waiting (and releasing backed-off Pods when due) if there is none."""
        while True:
            self.flush_backoff()
            entry = self.pop_nowait()
            if entry is not None:
                return entry
            self._wakeup.clear()
            timeout = None
            if self._backoff_heap:
                timeout = max(0.0, self._backoff_heap[0][0] - self.clock())
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                pass

    def pop_nowait(self) -> QueuedPod | None:
        while self._active_heap:
            _, token, uid = heapq.heappop(self._active_heap)
            current = self._active.get(uid)
            if current is not None and current[1] == token:
                del self._active[uid]
                return current[0]
        return None

    def add_unschedulable(self, entry: QueuedPod, pod: core_pb2.Pod | None = None) -> float:
        """The Pod fit nowhere (or its Bind failed): back off. Returns the delay."""
        if pod is not None:
            entry.pod = pod
        entry.attempts += 1
        delay = backoff_duration(entry.attempts, self.initial_backoff, self.max_backoff)
        entry.backoff_until = self.clock() + delay
        self._active.pop(entry.uid, None)
        token = next(self._token)
        self._backoff[entry.uid] = (entry, token)
        heapq.heappush(self._backoff_heap, (entry.backoff_until, token, entry.uid))
        self._wakeup.set()  # pop() recomputes its timeout
        return delay

    def move_all_to_active(self) -> int:
        """A cluster event may have made room: try every waiting Pod again now."""
        moved = len(self._backoff)
        for entry, _ in list(self._backoff.values()):
            self._activate(entry)
        self._backoff.clear()
        self._backoff_heap.clear()
        return moved

    def flush_backoff(self) -> int:
        """Move the Pods whose back-off is over to the active queue."""
        now, moved = self.clock(), 0
        while self._backoff_heap and self._backoff_heap[0][0] <= now:
            _, token, uid = heapq.heappop(self._backoff_heap)
            current = self._backoff.get(uid)
            if current is not None and current[1] == token:
                del self._backoff[uid]
                self._activate(current[0])
                moved += 1
        return moved

    # ---------------------------------------------------------------- reading

    def active_count(self) -> int:
        return len(self._active)

    def backoff_count(self) -> int:
        return len(self._backoff)

    def __len__(self) -> int:
        return len(self._active) + len(self._backoff)

    def _activate(self, entry: QueuedPod) -> None:
        token = next(self._token)
        self._active[entry.uid] = (entry, token)
        heapq.heappush(self._active_heap, (entry.order, token, entry.uid))
        self._wakeup.set()
