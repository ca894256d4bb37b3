"""Kubernetes' watch over HTTP: ``GET /api/v1/namespaces/default/pods?watch=true``.

The answer is ``200``, ``Content-Type: application/json``, chunked, and never ends by
itself: one JSON object per line, each a WatchEvent (meta/v1)::

    {"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{...},...}}
    {"type":"MODIFIED","object":{...}}
    {"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"42"}}}
    {"type":"ERROR","object":{"kind":"Status","apiVersion":"v1",...,"reason":"Expired","code":410}}

What the client sees first follows its ``resourceVersion`` (see watch_loop.py, shared with
the gRPC face): "" or "0", an ADDED event for every current object; a revision, every
change after it. A revision older than the cache's history is answered as Kubernetes
answers it: 200, then one ERROR event carrying a 410 Expired Status, then the end (the
client relists). ``sendInitialEvents=true`` (client-go's WatchList, with
``resourceVersionMatch=NotOlderThan``) asks for the current state as ADDED events followed,
when the client allows bookmarks, by a BOOKMARK annotated
``k8s.io/initial-events-end: "true"``: "you now hold the whole list", after which live
events follow. ``timeoutSeconds`` ends the stream cleanly after that long; a client that
goes away stops the watcher.

Every batch of events the cache has for this watcher is written as one chunk as soon as it
is there (``kubectl get -w`` and ``rollout status`` wait on them).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Callable

from aiohttp import web
from google.protobuf.message import Message

from apimachinery.convert import to_dict
from apimachinery.kinds import KindInfo
from apiserver import errors, watch_loop
from apiserver.rest import status
from apiserver.rest.encoding import dumps, watch_line
from apiserver.watchcache import BOOKMARK, PendingEvent, WatchCache

# The annotation on the BOOKMARK that ends a watch list's initial events.
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
# The only resourceVersionMatch a watch accepts (and sendInitialEvents requires).
NOT_OLDER_THAN = "NotOlderThan"
# Events per write: a relist-sized backlog goes out in several chunks, not one huge one.
WRITE_BATCH_LIMIT = 500
# How often an idle watch checks that its client is still connected (the server may not
# cancel a handler whose client went away: aiohttp's handler_cancellation is off by default).
DISCONNECT_CHECK_SECONDS = 1.0

Encoder = Callable[[str, Message], dict[str, Any]]


def _line(event_type: str, obj: dict[str, Any]) -> bytes:
    """One WatchEvent, one line (Kubernetes' JSON framing is a newline after each)."""
    return watch_line(event_type, dumps(obj))


def _object_json(obj: Message) -> bytes:
    return dumps(to_dict(obj))


def validate_watch_options(send_initial_events: bool | None, resource_version_match: str) -> None:
    """Kubernetes' validateWatchOptions (apimachinery's meta/internalversion/validation):
    sendInitialEvents needs resourceVersionMatch=NotOlderThan, and a watch takes no other
    resourceVersionMatch. 422 Invalid, as Kubernetes answers."""
    problems = []
    if send_initial_events is not None and resource_version_match != NOT_OLDER_THAN:
        problems.append("resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
                        f"resourceVersionMatch to {NOT_OLDER_THAN}")
    if resource_version_match:
        if send_initial_events is None:
            problems.append("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch "
                            "unless sendInitialEvents is provided")
        if resource_version_match != NOT_OLDER_THAN:
            problems.append(f'resourceVersionMatch: Unsupported value: "{resource_version_match}": '
                            f'supported values: "{NOT_OLDER_THAN}"')
    if problems:
        detail = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
        raise errors.Invalid(f'ListOptions.meta.k8s.io "" is invalid: {detail}')


def start_revision(resource_version: str, send_initial_events: bool | None, current: int) -> int | None:
    """Where the watch starts, as WatchCache.watch takes it: None for "the current state
    as ADDED events first", else the revision after which changes are replayed.

    sendInitialEvents defaults to true for resourceVersion "" or "0" and to false otherwise
    (ListOptions' documentation). With it true the current state is sent, which is "not
    older than" any revision the cache has; with it false and no revision the watch starts
    from now."""
    revision = watch_loop.parse_revision(resource_version)
    if send_initial_events is None:
        return revision
    if send_initial_events:
        return None
    return current if revision is None else revision


async def serve_watch(request: web.Request, cache: WatchCache, info: KindInfo, namespace: str, *,
                      label_selector: str, field_selector: str, resource_version: str, allow_bookmarks: bool,
                      timeout_seconds: float | None, send_initial_events: bool | None, bookmark_interval: float,
                      encode: Encoder | None = None, resource_version_match: str = "",
                      content_type: str = "application/json",
                      encode_object: Callable[[Message], bytes] = _object_json) -> web.StreamResponse:
    """Serve one watch of info's kind in namespace ("" for all namespaces, or a cluster-scoped
    kind) until the client goes away, the timeout passes, or the cache closes the watcher.

    ``encode(event_type, obj)`` turns each object into the JSON of the event's ``object``
    (default: the object itself, as convert.to_dict writes it; the backbone passes a Table
    encoder for ``as=Table``); it is also given the BOOKMARK objects. Without it, ``encode_object``
    gives an object's JSON bytes (the backbone passes its kept encodings, encoding.ObjectJSON). Bad input (selectors,
    resourceVersion, watch options) raises an APIError before anything is sent."""
    validate_watch_options(send_initial_events, resource_version_match)
    labels, fields = watch_loop.parse_selectors(info, label_selector, field_selector)
    from_revision = start_revision(resource_version, send_initial_events, cache.revision)
    namespace = namespace if info.namespaced else ""

    response = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    response.enable_chunked_encoding()
    try:
        watcher = cache.watch(info.kind, namespace, labels, fields, from_revision)
    except errors.TooOld as err:
        await response.prepare(request)
        await response.write(_line("ERROR", status.error_status(err)))
        await response.write_eof()
        return response

    # A watch list's initial events are exactly what the watcher holds now (cache.watch is
    # synchronous: no change can slip in between); the end BOOKMARK follows the last of them.
    initial_left = len(watcher.buffer) if send_initial_events and allow_bookmarks else None
    initial_revision = cache.revision

    def json_line(event_type: str, obj: Message) -> bytes:
        return watch_line(event_type, encode_object(obj))

    def encoded(event: PendingEvent) -> bytes:
        if encode is None:  # the plain JSON line, encoded once per change for every watcher of it
            return event.encode(json_line, form="json:")
        return _line(event.type, encode(event.type, event.obj))

    def end_of_initial_events() -> bytes:
        obj = watch_loop.bookmark(info, initial_revision, {INITIAL_EVENTS_END: "true"})
        return _line(BOOKMARK, encode(BOOKMARK, obj)) if encode else json_line(BOOKMARK, obj)

    def connected() -> bool:
        transport = request.transport
        return transport is not None and not transport.is_closing()

    try:
        await response.prepare(request)
        if initial_left == 0:
            await response.write(end_of_initial_events())
            initial_left = None
        deadline = None if timeout_seconds is None else asyncio.get_running_loop().time() + timeout_seconds
        events = watch_loop.batches(cache, watcher, info, allow_bookmarks=allow_bookmarks,
                                    bookmark_interval=bookmark_interval, batch_limit=WRITE_BATCH_LIMIT,
                                    deadline=deadline, wanted=connected, check_every=DISCONNECT_CHECK_SECONDS)
        async with contextlib.aclosing(events):
            try:
                async for batch in events:
                    chunk = []
                    for event in batch:
                        chunk.append(encoded(event))
                        if initial_left is not None:
                            initial_left -= 1
                            if initial_left == 0:
                                chunk.append(end_of_initial_events())
                                initial_left = None
                    await response.write(b"".join(chunk))
            except watch_loop.WatchClosed as closed:
                await response.write(_line("ERROR", status.failure(*errors.INTERNAL_ERROR, closed.reason)))
        await response.write_eof()
    except ConnectionResetError:  # the client went away mid-write
        pass
    finally:
        cache.stop(watcher)
    return response
