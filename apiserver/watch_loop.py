"""The body of a watch, shared by the apiserver's two faces: the gRPC Watch and
WatchBatches calls (service.py) and Kubernetes' HTTP watch (rest/watch.py).

A watch is three steps, the same on both faces:

1. read the request: the client's resourceVersion (``parse_revision``) and its label and
   field selectors (``parse_selectors``), refusing bad ones before anything is opened;
2. open a watcher on the watch cache (``WatchCache.watch``), primed with what the client
   must see first: the current state as ADDED events, or the changes after its revision
   (``TooOld`` when history no longer reaches back that far);
3. hand the client its events in batches (``batches``) until it goes away, the watcher is
   closed (``WatchClosed``), or a deadline passes; a BOOKMARK after each quiet
   bookmark interval tells a client that allows them how far the cache has got.

Each face only encodes: protobuf WatchEvents on one, JSON lines on the other.
"""

from __future__ import annotations

import asyncio
import math
from typing import AsyncIterator, Callable

from google.protobuf.message import Message

from apimachinery.kinds import KindInfo
from apimachinery.selectors import FieldSelector, LabelSelector, SelectorError
from apiserver import errors
from apiserver.watchcache import BOOKMARK, PendingEvent, WatchCache, Watcher


class WatchClosed(Exception):
    """The cache closed the watcher (it fell too far behind); reason says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_revision(text: str) -> int | None:
    """A watch's resourceVersion: "" and "0" mean "from now, with the current state
    first" (None); anything else is the revision after which to replay."""
    if text in ("", "0"):
        return None
    try:
        revision = int(text)
    except ValueError:
        raise errors.BadRequest(f'invalid resourceVersion "{text}": must be a number') from None
    if revision < 0:
        raise errors.BadRequest(f'invalid resourceVersion "{text}": must not be negative')
    return revision


def parse_selectors(info: KindInfo, label_selector: str,
                    field_selector: str) -> tuple[LabelSelector, FieldSelector]:
    try:
        return LabelSelector.parse(label_selector), FieldSelector.parse(field_selector, info.kind)
    except SelectorError as err:
        raise errors.BadRequest(str(err)) from None


def bookmark(info: KindInfo, revision: int, annotations: dict[str, str] | None = None) -> Message:
    """A BOOKMARK's object: an empty object of the watched kind carrying only the
    revision the client has now seen everything up to (and, for the end of a watch
    list's initial events, an annotation saying so)."""
    obj = info.message()
    obj.metadata.resource_version = str(revision)  # type: ignore[attr-defined]
    for key, value in (annotations or {}).items():
        obj.metadata.annotations[key] = value  # type: ignore[attr-defined]
    return obj


async def batches(cache: WatchCache, watcher: Watcher, info: KindInfo, *, allow_bookmarks: bool,
                  bookmark_interval: float, batch_limit: int | None = None, deadline: float | None = None,
                  wanted: Callable[[], bool] | None = None,
                  check_every: float = math.inf) -> AsyncIterator[list[PendingEvent]]:
    """The watcher's pending events in batches (at most batch_limit each), oldest first.

    After each bookmark_interval without events, a BOOKMARK at the cache's revision if the
    client allows them. Ends (returns) at ``deadline`` (the event loop's clock) or as soon
    as ``wanted()`` says the client is gone, which is asked at least every ``check_every``
    seconds; raises WatchClosed when the cache closes the watcher. The caller stops the
    watcher (``cache.stop``) when done with it."""
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    while True:
        now = loop.time()
        if (deadline is not None and now >= deadline) or (wanted is not None and not wanted()):
            return
        if watcher.closed_reason is not None:
            raise WatchClosed(watcher.closed_reason)
        if watcher.buffer:
            yield watcher.drain(batch_limit)
            quiet_since = loop.time()
            continue
        wake_at = quiet_since + bookmark_interval
        if deadline is not None:
            wake_at = min(wake_at, deadline)
        try:
            await asyncio.wait_for(watcher.wakeup.wait(), max(0.0, min(wake_at - now, check_every)))
        except TimeoutError:
            if loop.time() >= quiet_since + bookmark_interval:
                if allow_bookmarks:
                    yield [PendingEvent(BOOKMARK, bookmark(info, cache.revision))]
                quiet_since = loop.time()
