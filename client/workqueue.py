"""A key-only, de-duplicating, rate-limited work queue, as in client-go.

Handlers put keys ("namespace/name"), never objects: the worker reads the current
object from the informer cache when it gets to the key, so it always acts on the
newest state (level-triggered). A key is at most once in the queue, and never
handed to two workers at once: if it is added while being processed, it is queued
again when the worker calls done(). Failed keys come back after a per-key
exponential back-off (add_rate_limited); forget() resets it after a success.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from dataclasses import dataclass, field


@dataclass
class WorkQueue:
    base_delay: float = 0.005
    max_delay: float = 30.0
    _queue: list[str] = field(default_factory=list)  # keys ready to process, in order
    _dirty: set[str] = field(default_factory=set)  # keys in _queue or waiting to re-queue
    _processing: set[str] = field(default_factory=set)
    _failures: dict[str, int] = field(default_factory=dict)
    _delayed: list[tuple[float, int, str]] = field(default_factory=list)  # (when, seq, key)
    _seq: itertools.count = field(default_factory=itertools.count)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _timer: asyncio.TimerHandle | None = None
    shutting_down: bool = False

    def add(self, key: str) -> None:
        if self.shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._ready.set()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        heapq.heappush(self._delayed, (time.monotonic() + delay, next(self._seq), key))
        self._arm_timer()

    def add_rate_limited(self, key: str) -> None:
        """Re-queue a key that failed, after base_delay * 2^failures (capped)."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.add_after(key, min(self.base_delay * 2 ** failures, self.max_delay))

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._delayed:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, self._delayed[0][0] - time.monotonic()), self._release_due)

    def _release_due(self) -> None:
        self._timer = None
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            self.add(key)
        self._arm_timer()

    async def get(self) -> str:
        """The next key to process; call done(key) when finished with it."""
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        key = self._queue.pop(0)
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:  # added again while it was being processed
            self._queue.append(key)
            self._ready.set()

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being processed (keys waiting out a delay do not count)."""
        return not self._queue and not self._processing

    def shut_down(self) -> None:
        self.shutting_down = True
        if self._timer is not None:
            self._timer.cancel()
