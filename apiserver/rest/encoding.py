"""The JSON the HTTP face sends for stored objects, each encoded once per version of it.

Converting an object to Kubernetes' JSON (apimachinery.convert.to_dict, then json.dumps)
costs about 0.1 ms a Pod: a list of 1000 Pods spent nearly all its time there, every time,
though the objects had not changed since the last list. So the bytes of each stored
object are kept, as the watch cache keeps each change's encoded event for its watchers
(watchcache.PendingEvent.encode): a list concatenates the items' bytes, a get, a watch event
and a write's answer reuse them.

What is kept is exactly what the watch cache holds now: an object's bytes are kept only
when the object IS the watch cache's current object under its key (the same Python object,
so a dry run's result, a deleted object's last state or an older version is never taken for
it), and a change to the key (update, delete) drops them, through the cache's listeners. A
new resourceVersion is always a new object, so the bytes can never be stale. The memory is
bounded too: at most ``max_bytes`` of encodings, the least recently used going first.

The bytes are what ``json.dumps(to_dict(obj), separators=(",", ":"))`` gives, so a list
assembled from them is byte for byte the list encoded as a whole.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from google.protobuf.message import Message

from apimachinery.convert import to_dict
from apimachinery.kinds import KindInfo
from apiserver.registry.core import object_key
from apiserver.watchcache import Change, WatchCache

# The bound on kept encodings: 10 000 small Pods (bench.common.make_pod) take about 8 MiB.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def dumps(data: Any) -> bytes:
    """JSON as Go's json.Marshal writes it: no spaces."""
    return json.dumps(data, separators=(",", ":")).encode()


class ObjectJSON:
    """The encoded JSON of the watch cache's current objects (see the module docstring)."""

    def __init__(self, cache: WatchCache, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.cache = cache
        self.max_bytes = max_bytes
        self.size = 0  # bytes kept
        self._kept: OrderedDict[str, tuple[Message, bytes]] = OrderedDict()  # cache key -> (object, its JSON)
        cache.listeners.append(self.forget)

    def encode(self, info: KindInfo, obj: Message) -> bytes:
        """obj's JSON, from what is kept when obj is the stored object it was made for."""
        meta = obj.metadata  # type: ignore[attr-defined]
        key = object_key(info, meta.namespace if info.namespaced else "", meta.name)
        kept = self._kept.get(key)
        if kept is not None and kept[0] is obj:
            self._kept.move_to_end(key)
            return kept[1]
        data = dumps(to_dict(obj))
        if self.cache.get(info.kind, key) is obj and len(data) <= self.max_bytes:
            self._drop(key)
            self._kept[key] = (obj, data)
            self.size += len(data)
            while self.size > self.max_bytes:
                self._drop(next(iter(self._kept)))
        return data

    def forget(self, change: Change) -> None:
        """A watch cache listener: the key's object changed, its bytes are no longer its."""
        self._drop(change.key)

    def _drop(self, key: str) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self.size -= len(kept[1])

    def __len__(self) -> int:
        return len(self._kept)


def list_json(kind: KindInfo, meta: dict[str, Any], items: list[bytes]) -> bytes:
    """A ``<Kind>List`` of already encoded items: the bytes ``dumps`` gives the whole list."""
    head = dumps({"kind": f"{kind.kind}List", "apiVersion": kind.api_version, "metadata": meta})
    return b"".join((head[:-1], b',"items":[', b",".join(items), b"]}"))


def watch_line(event_type: str, obj: bytes) -> bytes:
    """One WatchEvent of an encoded object, one line (Kubernetes' JSON framing)."""
    return b"".join((b'{"type":', dumps(event_type), b',"object":', obj, b"}\n"))
